"""The student's view of their own review: flagged incidents, evidence, outcome, appeal."""

from __future__ import annotations

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from monitoring import observations
from reviews import services
from reviews.errors import AppealNotAllowed
from reviews.models import Appeal
from tests import factories as f

pytestmark = pytest.mark.django_db


def test_student_sees_what_was_flagged_and_the_outcome(
    client, student, reviewer, incident, evidence
):
    services.incident_confirm(incident=incident, reviewer=reviewer, note="internal: rita saw")
    services.review_close(
        session=incident.session, reviewer=reviewer, outcome="close_violation", note="secret"
    )
    client.force_login(student)
    url = reverse("reviews:student_report", args=[incident.session_id])
    page = client.get(url, {"incident": incident.pk}).content.decode()
    assert "More than one face" in page
    assert "The reviewers found a violation." in page
    assert reverse("reviews:evidence_image", args=[evidence.pk]) in page
    # Reviewers' notes and names are internal.
    assert "internal: rita saw" not in page
    assert "secret" not in page
    assert "rita" not in page


def test_student_page_never_names_another_student(
    client, student, other_student, exam, incident
):
    other_session = f.ExamSessionFactory(exam=exam, student=other_student, state="submitted")
    f.IncidentFactory(session=other_session, kind="speech", started_at=incident.started_at)
    client.force_login(student)
    page = client.get(reverse("reviews:student_report", args=[incident.session_id]))
    text = page.content.decode()
    assert "bob" not in text
    assert str(other_session.pk) not in text
    assert "Speech" not in text.split('id="incidents-heading"')[1]


def test_student_cannot_open_another_students_incident_through_the_query(
    client, student, other_student, exam, incident
):
    other_session = f.ExamSessionFactory(exam=exam, student=other_student, state="submitted")
    theirs = f.IncidentFactory(
        session=other_session, kind="speech", started_at=incident.started_at
    )
    client.force_login(student)
    page = client.get(
        reverse("reviews:student_report", args=[incident.session_id]), {"incident": theirs.pk}
    ).content.decode()
    assert 'id="incident-detail"' not in page


def test_student_sends_a_response_that_reviewers_see(client, student, reviewer, incident):
    client.force_login(student)
    url = reverse("reviews:student_report", args=[incident.session_id])
    response = client.post(url, {"text": "My brother came in to fetch his keys."})
    assert response.status_code == 302
    appeal = Appeal.objects.get()
    assert appeal.author == student
    assert AuditEvent.objects.filter(action="review.appeal_submitted", actor=student).exists()
    client.force_login(reviewer)
    page = client.get(reverse("reviews:timeline", args=[incident.session_id])).content.decode()
    assert "My brother came in to fetch his keys." in page
    queue = client.get(reverse("reviews:queue")).content.decode()
    assert "appeal" in queue


def test_only_one_response_per_session(student, incident):
    services.appeal_submit(session=incident.session, student=student, text="first")
    with pytest.raises(AppealNotAllowed, match="already has a response"):
        services.appeal_submit(session=incident.session, student=student, text="second")


def test_a_response_needs_the_students_own_ended_session(other_student, student, session):
    with pytest.raises(AppealNotAllowed, match="not an ended session of this student"):
        services.appeal_submit(session=session, student=student, text="too early")


def test_empty_response_is_a_form_error(client, student, incident):
    client.force_login(student)
    response = client.post(
        reverse("reviews:student_report", args=[incident.session_id]), {"text": "   "}
    )
    assert response.status_code == 400
    assert not Appeal.objects.exists()


def test_student_lists_only_their_own_finished_sessions(
    client, student, other_student, exam, incident
):
    f.ExamSessionFactory(exam=f.ExamFactory(course=exam.course), student=other_student,
                         state="submitted")
    client.force_login(student)
    page = client.get(reverse("reviews:student_sessions")).content.decode()
    assert page.count(reverse("reviews:student_report", args=[incident.session_id])) == 1
    assert page.count("/review/mine/") == 2  # the navigation link and the one session


def test_the_appeal_is_encrypted_at_rest_and_its_reading_audited(client, student, incident):
    services.appeal_submit(session=incident.session, student=student, text="a private reason")
    stored = Appeal.objects.values_list("text", flat=True).get()
    assert b"a private reason" not in bytes(stored)
    client.force_login(student)
    page = client.get(reverse("reviews:student_report", args=[incident.session_id]))
    assert "a private reason" in page.content.decode()
    assert AuditEvent.objects.filter(action="privacy.decrypt", actor=student).exists()


def test_shredding_the_session_empties_the_appeal_and_drops_the_frames(student, incident):
    from lifecycle.services import session_shred
    from monitoring.models import FrameObservation

    services.appeal_submit(session=incident.session, student=student, text="a private reason")
    observations.observation_record(
        session=incident.session, seq=1, captured_at=incident.started_at, face_count=1
    )
    session_shred(session=incident.session, cause="retention")
    assert Appeal.objects.get().text == ""
    assert not FrameObservation.objects.exists()


def test_pages_of_a_shredded_session_still_render(client, reviewer, student, incident):
    from lifecycle.services import session_shred

    services.incident_confirm(incident=incident, reviewer=reviewer, note="seen twice")
    services.appeal_submit(session=incident.session, student=student, text="a private reason")
    session_shred(session=incident.session, cause="retention")
    client.force_login(reviewer)
    url = reverse("reviews:timeline", args=[incident.session_id])
    page = client.get(url, {"incident": incident.pk})
    assert page.status_code == 200
    assert "seen twice" not in page.content.decode()
    client.force_login(student)
    report = client.get(reverse("reviews:student_report", args=[incident.session_id]))
    assert report.status_code == 200
    assert "a private reason" not in report.content.decode()
