"""The admin shows each staff member only the courses they work on, and no history edits."""

from __future__ import annotations

import pytest
from django.urls import reverse

from exams.models import ExamSession
from tests import factories as f


@pytest.fixture
def foreign_session(db):
    """A session in a course of another institution."""
    return f.ExamSessionFactory(exam__title="Foreign exam")


def _changelist(client, model):
    meta = model._meta
    return client.get(reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist"))


def test_reviewer_sees_only_sessions_of_their_courses(client, reviewer, session, foreign_session):
    client.force_login(reviewer)
    page = _changelist(client, ExamSession).content.decode()
    assert "Midterm" in page
    assert "Foreign exam" not in page


def test_reviewer_gets_404_for_a_foreign_session_in_the_admin(client, reviewer, foreign_session):
    client.force_login(reviewer)
    url = reverse("admin:exams_examsession_change", args=[foreign_session.pk])
    # Django's admin answers an object the user may not view with a redirect to the index
    # and a "doesn't exist" message: the same as for a missing object.
    response = client.get(url, follow=True)
    assert "doesn’t exist" in response.content.decode()
    assert "Foreign exam" not in response.content.decode()


def test_outsider_sees_no_session_of_the_course(client, outsider, session):
    client.force_login(outsider)
    page = _changelist(client, ExamSession).content.decode()
    assert "Midterm" not in page
    assert "0 exam sessions" in page


def test_reviewer_cannot_change_or_delete_history(client, reviewer, session):
    client.force_login(reviewer)
    change = reverse("admin:exams_examsession_change", args=[session.pk])
    response = client.post(change, {"state": "submitted"})
    session.refresh_from_db()
    assert session.state == ExamSession.State.CREATED
    assert response.status_code in (302, 403)
    delete = reverse("admin:exams_examsession_delete", args=[session.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 403
    assert ExamSession.objects.filter(pk=session.pk).exists()


def test_reviewer_sees_incidents_only_of_their_courses(client, reviewer, session, foreign_session):
    from monitoring.models import Incident

    f.IncidentFactory(session=session, kind=Incident.Kind.MULTIPLE_FACES)
    f.IncidentFactory(session=foreign_session, kind=Incident.Kind.SPEECH)
    client.force_login(reviewer)
    page = _changelist(client, Incident).content.decode()
    assert "More than one face" in page
    assert "<td class=\"field-kind\">Speech" not in page
    assert "1 incident" in page


def test_instructor_can_edit_their_exam_but_not_a_foreign_one(client, instructor, exam):
    foreign = f.ExamFactory(title="Elsewhere")
    client.force_login(instructor)
    assert client.get(reverse("admin:exams_exam_change", args=[exam.pk])).status_code == 200
    response = client.get(reverse("admin:exams_exam_change", args=[foreign.pk]), follow=True)
    assert "doesn’t exist" in response.content.decode()


def test_instructor_can_only_pick_their_courses_for_a_new_exam(client, instructor, course):
    other = f.CourseFactory(code="ZZZ999")
    client.force_login(instructor)
    page = client.get(reverse("admin:exams_exam_add")).content.decode()
    assert course.code in page
    assert other.code not in page


def test_institution_admin_sees_every_course_of_their_institution(
    client, institution_admin, institution, course
):
    second = f.CourseFactory(institution=institution, code="CHE200")
    foreign = f.CourseFactory(code="XYZ123")
    client.force_login(institution_admin)
    from exams.models import Course

    page = _changelist(client, Course).content.decode()
    assert course.code in page
    assert second.code in page
    assert foreign.code not in page


def test_student_cannot_enter_the_admin(client, student):
    client.force_login(student)
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302
    assert "login" in response.url
