"""The student flow through the pages, with the Django test client."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from exams.models import ExamSession
from tests import factories as f

State = ExamSession.State


@pytest.fixture
def student_client(client, student):
    client.force_login(student)
    return client


def test_login_with_a_wrong_password_says_so(client, student):
    response = client.post(
        reverse("login"), {"username": "alice", "password": "not-the-password"}
    )
    assert response.status_code == 200
    assert "didn't match" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_login_with_the_right_password_lands_on_my_exams(client, student):
    response = client.post(
        reverse("login"), {"username": "alice", "password": f.PASSWORD}, follow=True
    )
    assert response.redirect_chain[-1][0] == reverse("exams:my_exams")


def test_pages_need_login(client, session):
    for url in [reverse("exams:my_exams"), reverse("exams:consent", args=[session.pk])]:
        response = client.get(url)
        assert response.status_code == 302
        assert response.url.startswith(reverse("login"))


def test_my_exams_lists_only_the_students_course_exams(student_client, exam):
    other_exam = f.ExamFactory(title="Someone else's exam")
    page = student_client.get(reverse("exams:my_exams")).content.decode()
    assert exam.title in page
    assert other_exam.title not in page
    assert "Begin Midterm" in page


def test_full_flow_from_begin_to_finished(student_client, exam, student):
    response = student_client.post(reverse("exams:begin", args=[exam.pk]))
    session = ExamSession.objects.get(exam=exam, student=student)
    assert response.url == reverse("exams:consent", args=[session.pk])

    consent_page = student_client.get(response.url).content.decode()
    assert "What is collected" in consent_page
    assert "blurred" in consent_page
    assert f"destroyed {exam.retention_days} days" in consent_page

    response = student_client.post(reverse("exams:consent", args=[session.pk]), {"agree": "yes"})
    assert response.url == reverse("exams:camera_check", args=[session.pk])
    response = student_client.post(response.url)
    assert response.url == reverse("exams:session", args=[session.pk])
    assert "Start the exam now" in student_client.get(response.url).content.decode()

    student_client.post(reverse("exams:session", args=[session.pk]))
    page = student_client.get(reverse("exams:session", args=[session.pk])).content.decode()
    assert "Time remaining" in page
    assert "0:59:" in page or "1:00:00" in page

    response = student_client.post(reverse("exams:submit", args=[session.pk]))
    assert response.url == reverse("exams:finished", args=[session.pk])
    session.refresh_from_db()
    assert session.state == State.SUBMITTED


def test_consent_without_ticking_the_box_is_refused(student_client, session):
    response = student_client.post(
        reverse("exams:consent", args=[session.pk]), {}, follow=True
    )
    assert "Tick the box" in response.content.decode()
    session.refresh_from_db()
    assert session.state == State.CREATED


def test_student_cannot_open_another_students_session(client, session, other_student):
    client.force_login(other_student)
    for name in ["consent", "camera_check", "session", "finished"]:
        assert client.get(reverse(f"exams:{name}", args=[session.pk])).status_code == 404
    assert client.post(reverse("exams:submit", args=[session.pk])).status_code == 404
    refused = AuditEvent.objects.filter(action="session.view.refused", actor=other_student)
    assert refused.count() == 5
    assert refused.first().target == f"session:{session.pk}"


def test_staff_cannot_use_the_student_pages_of_a_session(client, session, reviewer):
    client.force_login(reviewer)
    assert client.get(reverse("exams:session", args=[session.pk])).status_code == 404


def test_beginning_an_exam_outside_its_window_shows_why(student_client, course):
    later = f.ExamFactory(
        course=course, title="Final",
        opens_at=timezone.now() + timedelta(days=3),
        closes_at=timezone.now() + timedelta(days=4),
    )
    response = student_client.post(reverse("exams:begin", args=[later.pk]), follow=True)
    assert "cannot be started now" in response.content.decode()
    assert not ExamSession.objects.filter(exam=later).exists()


def test_beginning_an_exam_of_another_course_is_not_found(student_client):
    foreign = f.ExamFactory()
    assert student_client.post(reverse("exams:begin", args=[foreign.pk])).status_code == 404


def test_starting_twice_shows_a_message_and_keeps_the_deadline(student_client, session, student):
    from exams import services

    services.session_consent(session=session, actor=student)
    services.session_camera_check(session=session, actor=student)
    services.session_start(session=session, actor=student)
    deadline = session.deadline_at
    response = student_client.post(reverse("exams:session", args=[session.pk]), follow=True)
    assert "Cannot start a session that is in progress" in response.content.decode()
    session.refresh_from_db()
    assert session.deadline_at == deadline


def test_a_finished_session_sends_the_student_to_the_finished_page(student_client, session):
    ExamSession.objects.filter(pk=session.pk).update(
        state=State.SUBMITTED, ended_at=timezone.now(), end_reason="Submitted by the student."
    )
    response = student_client.get(reverse("exams:session", args=[session.pk]))
    assert response.url == reverse("exams:finished", args=[session.pk])
    page = student_client.get(response.url).content.decode()
    assert "Submitted by the student." in page


def test_healthz_answers(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_on_the_embedded_default_reports_each_component(client, db):
    response = client.get("/readyz")
    body = response.json()
    assert response.status_code == 200, body
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["channel_layer"] == "ok"
    assert body["checks"]["broker"].startswith("ok")


def test_coming_back_after_the_deadline_expires_the_session(student_client, session, student):
    from exams import services

    services.session_consent(session=session, actor=student)
    services.session_camera_check(session=session, actor=student)
    services.session_start(session=session, actor=student)
    ExamSession.objects.filter(pk=session.pk).update(
        deadline_at=timezone.now() - timedelta(seconds=1)
    )
    response = student_client.get(reverse("exams:session", args=[session.pk]))
    assert response.url == reverse("exams:finished", args=[session.pk])
    session.refresh_from_db()
    assert session.state == State.EXPIRED
    assert "working time ran out" in student_client.get(response.url).content.decode()
