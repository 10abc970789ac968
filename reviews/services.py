"""Writes for reviews: the audit trail first, since every other service records into it."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

from exams.models import Course, ExamSession
from reviews.models import AuditEvent


def audit_record(
    *,
    actor: AbstractBaseUser | AnonymousUser | None,
    action: str,
    session: ExamSession | None = None,
    course: Course | None = None,
    target: str = "",
    reason: str = "",
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one audit event. Call it inside the caller's transaction.

    A refusal is recorded too (``action`` ending in ``.refused``), so that probing for
    other students' sessions or for exams outside their window leaves a trace.
    """
    if actor is not None and not actor.is_authenticated:
        actor = None
    if course is None and session is not None:
        course = session.exam.course
    return AuditEvent.objects.create(
        actor=actor,
        action=action,
        session=session,
        course=course,
        target=target,
        reason=reason,
        detail=detail or {},
    )
