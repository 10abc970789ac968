"""Writes for reviews: the audit trail first, since every other service records into it.

Every write here also appends to the tamper-evident log (reviews/integrity.py) inside its
transaction, so the log and the tables commit or roll back together.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import transaction

from exams.models import Course, ExamSession
from reviews.errors import IncidentAlreadyDecided, ReviewError
from reviews.integrity import (
    MAX_STRING_CHARS,
    Kind,
    integrity_append,
    integrity_commitment,
    integrity_log_decision,
    integrity_log_incident,
)
from reviews.models import AuditEvent, Incident, ReviewDecision


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
    with transaction.atomic():
        event = AuditEvent.objects.create(
            actor=actor,
            action=action,
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
                "action": action[:MAX_STRING_CHARS],
                "actor_id": actor.pk if actor is not None else None,
                "course_id": course.pk if course is not None else None,
                "target": (
                    target if len(target) <= MAX_STRING_CHARS else integrity_commitment(target)
                ),
            },
        )
    return event


def incident_create(
    *,
    session: ExamSession,
    kind: str,
    started_at: datetime,
    severity: str = Incident.Severity.LOW,
    ended_at: datetime | None = None,
    score: float = 0.0,
    payload: bytes = b"",
) -> Incident:
    """Record an incident a check flagged, and log it.

    ``payload`` holds the details for reviewers (ciphertext once issue 7's encryption is
    on); the log keeps only its SHA-256. Raises django.db.IntegrityError when the
    incident breaks a constraint (ends before it starts, score outside 0..1).
    """
    with transaction.atomic():
        incident = Incident.objects.create(
            session=session,
            kind=kind,
            severity=severity,
            started_at=started_at,
            ended_at=ended_at,
            score=score,
            payload=payload,
        )
        integrity_log_incident(incident=incident)
    return incident


_DECIDED_STATUS = {
    ReviewDecision.Decision.CONFIRM: Incident.Status.CONFIRMED,
    ReviewDecision.Decision.DISMISS: Incident.Status.DISMISSED,
}


def review_decision_record(
    *,
    session: ExamSession,
    reviewer: AbstractBaseUser,
    decision: str,
    incident: Incident | None = None,
    note: str = "",
) -> ReviewDecision:
    """Record a reviewer's decision on one incident or on the whole session, and log it.

    Access is the caller's to check (exams.permissions.can_review_course). Raises
    IncidentAlreadyDecided when the incident was confirmed or dismissed already (two
    reviewers racing: the conditional UPDATE lets only one win). The note is free text
    and stays out of the log.
    """
    if (incident is None) != (decision not in _DECIDED_STATUS):
        target = "an incident" if decision in _DECIDED_STATUS else "no incident (it closes)"
        raise ReviewError(f"A {decision!r} decision needs {target}.")
    with transaction.atomic():
        if incident is not None:
            updated = Incident.objects.filter(
                pk=incident.pk, session=session, status=Incident.Status.PENDING
            ).update(status=_DECIDED_STATUS[decision])
            if not updated:
                incident.refresh_from_db(fields=["status"])
                raise IncidentAlreadyDecided(
                    f"Incident {incident.pk} is already {incident.get_status_display().lower()}"
                    "; reload the review to see the decision that was recorded."
                )
            incident.refresh_from_db(fields=["status"])
        record = ReviewDecision.objects.create(
            session=session, incident=incident, reviewer=reviewer, decision=decision, note=note
        )
        integrity_log_decision(decision=record)
    return record
