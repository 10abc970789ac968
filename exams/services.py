"""Writes for exams and exam sessions.

The session state machine lives here. Each transition is one conditional
``UPDATE ... WHERE state IN (allowed)``, so two racing requests (a double click, two
tabs) cannot both move a session, and a transition that is not allowed changes nothing
and raises IllegalTransition. Refusals worth auditing are recorded after the failed
transaction has rolled back, so the record survives it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.actions import AuditAction, session_transition_action
from audit.services import audit_record
from exams import selectors
from exams.errors import ExamError, ExamNotOpen, IllegalTransition, NotEnrolled
from exams.models import Enrollment, Exam, ExamSession
from exams.signals import session_ended
from integrity.records import integrity_record_log

State = ExamSession.State

# Which states each transition may start from. Anything else is illegal.
TRANSITIONS: dict[str, tuple[frozenset[str], str]] = {
    "consent": (frozenset({State.CREATED}), State.CONSENTED),
    "camera_check": (frozenset({State.CONSENTED, State.CAMERA_CHECKED}), State.CAMERA_CHECKED),
    "start": (frozenset({State.CAMERA_CHECKED}), State.IN_PROGRESS),
    "submit": (frozenset({State.IN_PROGRESS}), State.SUBMITTED),
    "terminate": (
        frozenset({State.CREATED, State.CONSENTED, State.CAMERA_CHECKED, State.IN_PROGRESS}),
        State.TERMINATED,
    ),
    "expire": (
        frozenset({State.CREATED, State.CONSENTED, State.CAMERA_CHECKED, State.IN_PROGRESS}),
        State.EXPIRED,
    ),
}
ENDED_STATES = frozenset({State.SUBMITTED, State.TERMINATED, State.EXPIRED})

_VERBS = {
    "consent": "give consent for",
    "camera_check": "check the camera of",
    "start": "start",
    "submit": "submit",
    "terminate": "terminate",
    "expire": "expire",
}


@contextlib.contextmanager
def _audited_refusal(
    *, actor: AbstractBaseUser | None, action: AuditAction, session: ExamSession | None = None,
    exam: Exam | None = None,
) -> Iterator[None]:
    try:
        yield
    except ExamError as exc:
        audit_record(
            actor=actor,
            action=action,
            session=session,
            course=exam.course if exam is not None else None,
            reason=str(exc),
        )
        raise


def _transition(
    *, session: ExamSession, name: str, actor: AbstractBaseUser | None, reason: str = "",
    **fields: Any,
) -> ExamSession:
    allowed_from, target = TRANSITIONS[name]
    updated = ExamSession.objects.filter(pk=session.pk, state__in=allowed_from).update(
        state=target, **fields
    )
    if not updated:
        session.refresh_from_db(fields=["state"])
        raise IllegalTransition(
            f"Cannot {_VERBS[name]} a session that is {session.get_state_display().lower()}; "
            f"this step is only possible from: "
            f"{', '.join(sorted(State(s).label.lower() for s in allowed_from))}."
        )
    session.refresh_from_db()
    if target in ENDED_STATES:
        # Before the audit entry: its integrity-log append would hold the log's lock while
        # the receivers wait for the stream's locks (exams/signals.py).
        session_ended.send(
            sender=ExamSession, session=session, ended_at=session.ended_at or timezone.now()
        )
    audit_record(
        actor=actor, action=session_transition_action(name), session=session, reason=reason
    )
    integrity_record_log(record_type="exam_session", record=session, change=name)
    return session


def session_open(
    *, exam: Exam, student: AbstractBaseUser, client_info: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> ExamSession:
    """Return the student's session for ``exam``, creating it while the exam is open.

    Raises NotEnrolled when the student is not in the exam's course and ExamNotOpen
    when a new session would begin outside the exam's window.
    """
    now = now or timezone.now()
    with _audited_refusal(actor=student, action=AuditAction.SESSION_OPEN_REFUSED, exam=exam):
        if not Enrollment.objects.filter(course_id=exam.course_id, student=student).exists():
            raise NotEnrolled(
                f"You are not enrolled in {exam.course}; ask your instructor to add you."
            )
        existing = ExamSession.objects.filter(exam=exam, student=student).first()
        if existing is not None:
            return existing
        if not exam.is_open(now):
            raise ExamNotOpen(
                f"{exam.title} is open from {exam.opens_at:%Y-%m-%d %H:%M} to "
                f"{exam.closes_at:%Y-%m-%d %H:%M} UTC; it cannot be started now."
            )
        try:
            with transaction.atomic():
                session = ExamSession.objects.create(
                    exam=exam, student=student, client_info=client_info or {}, created_at=now
                )
                audit_record(actor=student, action=AuditAction.SESSION_OPEN, session=session)
                integrity_record_log(record_type="exam_session", record=session, change="created")
        except IntegrityError:
            # A concurrent request created it first: the unique constraint decided.
            return ExamSession.objects.get(exam=exam, student=student)
        return session


def session_consent(*, session: ExamSession, actor: AbstractBaseUser) -> ExamSession:
    with _audited_refusal(
        actor=actor, action=AuditAction.SESSION_CONSENT_REFUSED, session=session
    ):
        with transaction.atomic():
            return _transition(
                session=session, name="consent", actor=actor, consented_at=timezone.now()
            )


def session_camera_check(*, session: ExamSession, actor: AbstractBaseUser) -> ExamSession:
    with _audited_refusal(
        actor=actor, action=AuditAction.SESSION_CAMERA_CHECK_REFUSED, session=session
    ):
        with transaction.atomic():
            return _transition(
                session=session, name="camera_check", actor=actor,
                camera_checked_at=timezone.now(),
            )


def session_start(
    *, session: ExamSession, actor: AbstractBaseUser, now: datetime | None = None
) -> ExamSession:
    """Start the working time. Raises ExamNotOpen outside the window, IllegalTransition
    when the session is not camera-checked (including a second start)."""
    now = now or timezone.now()
    exam = session.exam
    with _audited_refusal(actor=actor, action=AuditAction.SESSION_START_REFUSED, session=session):
        if session.state == State.CAMERA_CHECKED and not exam.is_open(now):
            raise ExamNotOpen(
                f"{exam.title} closed at {exam.closes_at:%Y-%m-%d %H:%M} UTC "
                "(or has not opened yet); it can no longer be started."
            )
        extra_min = selectors.extra_time_for(session=session)
        deadline = now + timedelta(minutes=exam.duration_min + extra_min)
        with transaction.atomic():
            return _transition(
                session=session, name="start", actor=actor, started_at=now, deadline_at=deadline
            )


def session_submit(*, session: ExamSession, actor: AbstractBaseUser) -> ExamSession:
    with _audited_refusal(actor=actor, action=AuditAction.SESSION_SUBMIT_REFUSED, session=session):
        with transaction.atomic():
            return _transition(
                session=session, name="submit", actor=actor, ended_at=timezone.now(),
                end_reason="Submitted by the student.",
            )


def session_terminate(
    *, session: ExamSession, actor: AbstractBaseUser, reason: str
) -> ExamSession:
    """Staff end a session early; the reason is shown to the student and audited."""
    if not reason.strip():
        raise ExamError("Give a reason for terminating the session; the student will see it.")
    with _audited_refusal(
        actor=actor, action=AuditAction.SESSION_TERMINATE_REFUSED, session=session
    ):
        with transaction.atomic():
            return _transition(
                session=session, name="terminate", actor=actor, reason=reason,
                ended_at=timezone.now(), end_reason=reason,
            )


def session_expire_if_overdue(
    *, session: ExamSession, now: datetime | None = None
) -> ExamSession:
    """Expire this session now if its working time has run out; otherwise leave it.

    Pages call it so a student who comes back late sees the truth at once, without
    waiting for the periodic task.
    """
    now = now or timezone.now()
    if session.state == State.IN_PROGRESS and session.deadline_at and session.deadline_at <= now:
        with contextlib.suppress(IllegalTransition), transaction.atomic():
            # IllegalTransition: it was submitted or expired in the meantime.
            _transition(
                session=session, name="expire", actor=None, ended_at=now,
                end_reason="The working time ran out.",
            )
        session.refresh_from_db()
    return session


def session_expire_overdue(*, now: datetime | None = None) -> int:
    """Expire running sessions past their deadline and unstarted ones of closed exams.

    Idempotent: run by a periodic task and safe to run twice. Returns how many expired.
    """
    now = now or timezone.now()
    overdue = ExamSession.objects.filter(state=State.IN_PROGRESS, deadline_at__lte=now)
    unstarted = ExamSession.objects.filter(
        state__in=[State.CREATED, State.CONSENTED, State.CAMERA_CHECKED], exam__closes_at__lte=now
    )
    count = 0
    for session in (overdue | unstarted).select_related("exam__course"):
        with contextlib.suppress(IllegalTransition), transaction.atomic():
            # IllegalTransition here means the student submitted in the meantime.
            _transition(
                session=session, name="expire", actor=None, ended_at=now,
                end_reason="The working time ran out.",
            )
            count += 1
    return count
