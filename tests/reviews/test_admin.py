"""The admin: a session links to its timeline; bulk dismiss and CSV export actions."""

from __future__ import annotations

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse

from audit.models import AuditEvent
from monitoring.models import Incident
from tests import factories as f

pytestmark = pytest.mark.django_db


def test_session_admin_page_links_to_the_timeline(client, reviewer, incident):
    client.force_login(reviewer)
    url = reverse("admin:exams_examsession_change", args=[incident.session_id])
    page = client.get(url).content.decode()
    assert reverse("reviews:timeline", args=[incident.session_id]) in page
    changelist = client.get(reverse("admin:exams_examsession_changelist")).content.decode()
    assert reverse("reviews:timeline", args=[incident.session_id]) in changelist


def test_instructors_get_no_timeline_link(client, instructor, incident):
    client.force_login(instructor)
    url = reverse("admin:exams_examsession_change", args=[incident.session_id])
    response = client.get(url)
    assert response.status_code == 200
    assert reverse("reviews:timeline", args=[incident.session_id]) not in response.content.decode()


def _post_action(client, action, pks, **extra):
    return client.post(
        reverse("admin:monitoring_incident_changelist"),
        {"action": action, ACTION_CHECKBOX_NAME: [str(pk) for pk in pks], **extra},
    )


def test_bulk_dismiss_asks_for_a_note_then_dismisses(client, reviewer, incident):
    other = f.IncidentFactory(session=incident.session, started_at=incident.started_at)
    client.force_login(reviewer)
    page = _post_action(client, "dismiss_incidents", [incident.pk, other.pk])
    assert page.status_code == 200
    assert "Why are these incidents dismissed?" in page.content.decode()
    assert Incident.objects.filter(status="pending").count() == 2

    done = _post_action(
        client, "dismiss_incidents", [incident.pk, other.pk], apply="1", note="lamp glare"
    )
    assert done.status_code == 302
    assert Incident.objects.filter(status="dismissed").count() == 2
    events = AuditEvent.objects.filter(action="review.incident_dismissed", reason="lamp glare")
    assert events.count() == 2


def test_instructors_cannot_bulk_dismiss(client, instructor, incident):
    client.force_login(instructor)
    _post_action(client, "dismiss_incidents", [incident.pk], apply="1", note="x")
    incident.refresh_from_db()
    assert incident.status == Incident.Status.PENDING


def test_outsiders_cannot_dismiss_other_courses_incidents(client, outsider, incident):
    client.force_login(outsider)
    _post_action(client, "dismiss_incidents", [incident.pk], apply="1", note="x")
    incident.refresh_from_db()
    assert incident.status == Incident.Status.PENDING


def test_export_incidents_csv_is_audited(client, reviewer, incident):
    client.force_login(reviewer)
    response = _post_action(client, "export_incidents_csv", [incident.pk])
    assert response["Content-Type"].startswith("text/csv")
    lines = response.content.decode().splitlines()
    assert lines[0].startswith("incident_id,session_id,student")
    assert lines[1].startswith(f"{incident.pk},{incident.session_id},alice,BIO101")
    assert AuditEvent.objects.get(action="review.incidents_exported").detail == {"count": 1}


def test_outsiders_export_nothing_of_other_courses(client, outsider, incident):
    client.force_login(outsider)
    response = _post_action(client, "export_incidents_csv", [incident.pk])
    assert str(incident.session_id) not in response.content.decode()


def test_export_sessions_csv_has_the_score(client, reviewer, incident):
    client.force_login(reviewer)
    response = client.post(
        reverse("admin:exams_examsession_changelist"),
        {"action": "export_sessions_csv", ACTION_CHECKBOX_NAME: [str(incident.session_id)]},
    )
    lines = response.content.decode().splitlines()
    assert "suspicion_score" in lines[0]
    # multiple_faces 5 × high 2 × 0.9 = 9.0
    assert ",9.0,multiple_faces×1=9.0,1,,False" in lines[1]


def test_export_defuses_spreadsheet_formulas(client, reviewer, exam):
    student = f.UserFactory(username="@SUM(1+1)")
    session = f.ExamSessionFactory(exam=exam, student=student, state="submitted")
    incident = f.IncidentFactory(session=session)
    client.force_login(reviewer)
    response = _post_action(client, "export_incidents_csv", [incident.pk])
    assert ",'@SUM(1+1)," in response.content.decode()
