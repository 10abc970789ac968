"""Writes of the audit trail. Every other app's services record into it.

Each event is also appended to the tamper-evident log (integrity/services.py) in the same
transaction, so the trail and the log commit or roll back together.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import transaction
from django.db.models import Model

from audit.actions import AuditAction, audit_action, exported_action
from audit.models import AuditEvent
from integrity.services import MAX_STRING_CHARS, Kind, integrity_append, integrity_commitment


def audit_record(
    *,
    actor: AbstractBaseUser | AnonymousUser | None,
    action: AuditAction,
    session: Model | None = None,
    course: Model | None = None,
    target: str = "",
    reason: str = "",
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one audit event. Call it inside the caller's transaction.

    ``session`` is an exams.ExamSession and ``course`` an exams.Course (the trail sits
    below the exams app, so it names them only by their foreign keys).

    A refusal is recorded too (``action`` ending in ``.refused``), so that probing for
    other students' sessions or for exams outside their window leaves a trace.

    ``action`` must be registered in audit/actions.py: any other string raises
    UnknownAuditAction, so the registry stays the one list of what the trail holds.
    """
    action = audit_action(action)
    if actor is not None and not actor.is_authenticated:
        actor = None
    if course is None and session is not None:
        course = session.exam.course
    with transaction.atomic():
        event = AuditEvent.objects.create(
            actor=actor,
            action=action.value,
            session=session,
            course=course,
            target=target,
            reason=reason,
            detail=detail or {},
        )
        # The reason and detail are free text: the log keeps who, what, where and when.
        integrity_append(
            kind=Kind.AUDIT,
            session=session,
            data={
                "audit_event_id": event.pk,
                "action": action.value[:MAX_STRING_CHARS],
                "actor_id": actor.pk if actor is not None else None,
                "course_id": course.pk if course is not None else None,
                "target": (
                    target if len(target) <= MAX_STRING_CHARS else integrity_commitment(target)
                ),
            },
        )
    return event


def export_record(*, actor: AbstractBaseUser, what: str, count: int) -> AuditEvent:
    """Audit an export of review data (it leaves the system, so it leaves a trace)."""
    with transaction.atomic():
        return audit_record(
            actor=actor, action=exported_action(what), detail={"count": count}
        )
