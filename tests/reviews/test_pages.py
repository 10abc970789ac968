"""Review pages: filters, empty sessions, paging and the selected incident."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse

from exams.models import ExamSession
from monitoring.models import Incident
from tests import factories as f

pytestmark = pytest.mark.django_db


def test_queue_filters_by_course_exam_status_and_kind(client, reviewer, exam, incident):
    second_exam = f.ExamFactory(course=exam.course, title="Final")
    other = f.ExamSessionFactory(
        exam=second_exam, state="submitted", started_at=incident.started_at
    )
    f.IncidentFactory(session=other, kind="speech", started_at=incident.started_at)
    client.force_login(reviewer)
    url = reverse("reviews:queue")
    first = reverse("reviews:timeline", args=[incident.session_id])
    second = reverse("reviews:timeline", args=[other.pk])

    page = client.get(url, {"exam": second_exam.pk}).content.decode()
    assert second in page and first not in page
    page = client.get(url, {"kind": "multiple_faces"}).content.decode()
    assert first in page and second not in page
    page = client.get(url, {"course": exam.course_id, "status": "open"}).content.decode()
    assert first in page and second in page


def test_queue_ignores_a_course_the_reviewer_does_not_review(client, reviewer, outsider):
    foreign = f.CourseFactory()
    client.force_login(reviewer)
    response = client.get(reverse("reviews:queue"), {"course": foreign.pk})
    assert response.status_code == 200
    assert foreign.code not in response.content.decode()


def test_timeline_of_a_session_without_incidents_or_frames(client, reviewer, exam, student):
    session = f.ExamSessionFactory(exam=exam, student=student, state="terminated")
    client.force_login(reviewer)
    page = client.get(reverse("reviews:timeline", args=[session.pk])).content.decode()
    assert "None flagged" in page
    assert "None recorded" in page
    assert "Suspicion score: <span class=\"score-number\">0" in page


def test_incident_table_pages_and_follows_the_selection(client, reviewer, finished_session):
    start = finished_session.started_at
    incidents = Incident.objects.bulk_create(
        Incident(
            session=finished_session, kind="tab_hidden", started_at=start + timedelta(seconds=i)
        )
        for i in range(250)
    )
    client.force_login(reviewer)
    url = reverse("reviews:timeline", args=[finished_session.pk])
    page = client.get(url, {"page": 3}).content.decode()
    assert "page 3 of 3" in page
    assert page.count('<tr id="incident-') == 50
    # Selecting an incident shows the table page that holds it.
    page = client.get(url, {"incident": incidents[120].pk}).content.decode()
    assert "page 2 of 3" in page
    assert f'href="{url}?incident={incidents[119].pk}#incident-detail" rel="prev"' in page
    assert f'href="{url}?incident={incidents[121].pk}#incident-detail" rel="next"' in page


def test_a_decided_incident_offers_no_decision_form(client, reviewer, incident):
    Incident.objects.filter(pk=incident.pk).update(status="confirmed")
    client.force_login(reviewer)
    url = reverse("reviews:timeline", args=[incident.session_id])
    page = client.get(url, {"incident": incident.pk}).content.decode()
    assert "Decide this incident" not in page


def test_in_progress_sessions_are_in_the_queue_but_not_the_students_report(
    client, reviewer, student, session
):
    ExamSession.objects.filter(pk=session.pk).update(
        state="in_progress", started_at=session.created_at
    )
    client.force_login(reviewer)
    assert str(session.pk) in client.get(reverse("reviews:queue")).content.decode()
    client.force_login(student)
    response = client.get(reverse("reviews:student_report", args=[session.pk]))
    assert response.status_code == 404
