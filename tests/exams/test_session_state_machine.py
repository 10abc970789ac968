"""The exam session state machine: every legal step, every illegal one, and races."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from exams import services
from exams.errors import ExamError, ExamNotOpen, IllegalTransition, NotEnrolled
from exams.models import ExamSession
from tests import factories as f

State = ExamSession.State

# How to bring a fresh session to each state through the services.
_PATH = ["consent", "camera_check", "start"]


def _advance(session, student, to_state):
    steps = {
        State.CREATED: [],
        State.CONSENTED: ["consent"],
        State.CAMERA_CHECKED: ["consent", "camera_check"],
        State.IN_PROGRESS: _PATH,
        State.SUBMITTED: _PATH + ["submit"],
        State.TERMINATED: _PATH + ["terminate"],
        State.EXPIRED: _PATH + ["expire"],
    }[to_state]
    for step in steps:
        _do(step, session, student)
    session.refresh_from_db()
    assert session.state == to_state
    return session


def _do(step, session, actor):
    if step == "terminate":
        return services.session_terminate(session=session, actor=actor, reason="Test ends it.")
    if step == "expire":
        return services._transition(session=session, name="expire", actor=None)
    return getattr(services, f"session_{step}")(session=session, actor=actor)


def test_student_walks_through_the_happy_path(session, student):
    services.session_consent(session=session, actor=student)
    services.session_camera_check(session=session, actor=student)
    services.session_start(session=session, actor=student)
    assert session.state == State.IN_PROGRESS
    assert session.deadline_at - session.started_at == timedelta(minutes=60)
    services.session_submit(session=session, actor=student)
    assert session.state == State.SUBMITTED
    assert session.ended_at is not None
    actions = list(AuditEvent.objects.filter(session=session).values_list("action", flat=True))
    assert sorted(actions) == sorted(
        ["session.consent", "session.camera_check", "session.start", "session.submit"]
    )


# Every (state, step) pair not in TRANSITIONS' allowed sets must be refused.
ILLEGAL = [
    (state, step)
    for state in State.values
    for step, (allowed_from, _) in services.TRANSITIONS.items()
    if state not in allowed_from and step != "expire"
] + [(state, "expire") for state in (State.SUBMITTED, State.TERMINATED, State.EXPIRED)]


@pytest.mark.parametrize(("state", "step"), ILLEGAL)
def test_illegal_transition_is_refused_and_changes_nothing(session, student, state, step):
    _advance(session, student, state)
    before = ExamSession.objects.values().get(pk=session.pk)
    with pytest.raises(IllegalTransition, match="only possible from"):
        _do(step, session, student)
    assert ExamSession.objects.values().get(pk=session.pk) == before


def test_illegal_transition_names_the_current_state(session, student):
    with pytest.raises(IllegalTransition, match="Cannot submit a session that is created"):
        services.session_submit(session=session, actor=student)


def test_refused_transition_is_audited(session, student):
    with pytest.raises(IllegalTransition):
        services.session_start(session=session, actor=student)
    event = AuditEvent.objects.get(action="session.start.refused")
    assert event.actor == student
    assert event.session == session
    assert "Cannot start" in event.reason


def test_starting_twice_is_refused(session, student):
    _advance(session, student, State.IN_PROGRESS)
    with pytest.raises(IllegalTransition, match="Cannot start a session that is in progress"):
        services.session_start(session=session, actor=student)


def test_a_stale_copy_cannot_move_the_session_twice(session, student):
    _advance(session, student, State.CAMERA_CHECKED)
    stale = ExamSession.objects.get(pk=session.pk)
    services.session_start(session=session, actor=student)
    with pytest.raises(IllegalTransition):
        services.session_start(session=stale, actor=student)
    assert AuditEvent.objects.filter(action="session.start").count() == 1


def test_start_outside_the_window_is_refused(session, student):
    _advance(session, student, State.CAMERA_CHECKED)
    later = session.exam.closes_at + timedelta(minutes=1)
    with pytest.raises(ExamNotOpen, match="can no longer be started"):
        services.session_start(session=session, actor=student, now=later)
    session.refresh_from_db()
    assert session.state == State.CAMERA_CHECKED


def test_open_creates_one_session_and_returns_it_again(exam, student):
    first = services.session_open(exam=exam, student=student)
    again = services.session_open(exam=exam, student=student)
    assert first.pk == again.pk
    assert ExamSession.objects.filter(exam=exam, student=student).count() == 1


def test_open_refuses_a_student_not_enrolled(exam):
    stranger = f.UserFactory(username="mallory")
    with pytest.raises(NotEnrolled, match="not enrolled in BIO101"):
        services.session_open(exam=exam, student=stranger)
    assert not ExamSession.objects.exists()
    assert AuditEvent.objects.filter(action="session.open.refused", actor=stranger).exists()


def test_open_refuses_an_exam_outside_its_window(course, student):
    exam = f.ExamFactory(
        course=course,
        opens_at=timezone.now() + timedelta(days=1),
        closes_at=timezone.now() + timedelta(days=2),
    )
    with pytest.raises(ExamNotOpen, match="cannot be started now"):
        services.session_open(exam=exam, student=student)
    assert not ExamSession.objects.exists()


def test_extra_time_accommodation_extends_the_deadline(session, student, course):
    student.enrollments.filter(course=course).update(extra_time_min=15)
    _advance(session, student, State.IN_PROGRESS)
    assert session.deadline_at - session.started_at == timedelta(minutes=75)


def test_terminate_needs_a_reason(session, instructor):
    with pytest.raises(ExamError, match="Give a reason"):
        services.session_terminate(session=session, actor=instructor, reason="  ")


def test_expire_overdue_expires_only_late_sessions(exam, student, other_student):
    late = services.session_open(exam=exam, student=student)
    _advance(late, student, State.IN_PROGRESS)
    on_time = services.session_open(exam=exam, student=other_student)
    _advance(on_time, other_student, State.IN_PROGRESS)
    ExamSession.objects.filter(pk=late.pk).update(deadline_at=timezone.now() - timedelta(1))
    assert services.session_expire_overdue() == 1
    assert services.session_expire_overdue() == 0
    late.refresh_from_db()
    on_time.refresh_from_db()
    assert (late.state, on_time.state) == (State.EXPIRED, State.IN_PROGRESS)


def test_expire_task_expires_overdue_sessions(exam, student):
    from exams.tasks import expire_overdue_sessions

    late = services.session_open(exam=exam, student=student)
    _advance(late, student, State.IN_PROGRESS)
    ExamSession.objects.filter(pk=late.pk).update(deadline_at=timezone.now() - timedelta(1))
    # apply() runs the task here whatever the broker, as a worker would.
    assert expire_overdue_sessions.apply().get() == 1
    late.refresh_from_db()
    assert late.state == State.EXPIRED
