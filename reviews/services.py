"""Writes for reviews: the audit trail first, since every other service records into it.

Every write here also appends to the tamper-evident log (integrity/services.py) inside its
transaction, so the log and the tables commit or roll back together. A reviewer's
decision is one transaction that changes the incident (or closes the review), records a
``ReviewDecision``, an ``AuditEvent`` and the log entries, so they never disagree.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction

from audit.actions import AuditAction, incident_decided_action
from audit.services import audit_record
from exams.models import ExamSession
from integrity.records import integrity_log_appeal, integrity_log_decision, integrity_log_incident
from monitoring.incidents import incident_open
from monitoring.models import Incident
from reviews.errors import (
    AppealNotAllowed,
    IncidentAlreadyDecided,
    InvalidOutcome,
    ReviewClosed,
    ReviewError,
)
from reviews.models import Appeal, ReviewDecision
from reviews.signals import review_closed


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
    """Record an incident a check flagged, and log it (monitoring.incidents.incident_open).

    ``payload`` holds the details for reviewers (encrypted at rest); the log keeps only a
    keyed digest of it. Raises django.db.IntegrityError when the incident breaks a
    constraint (ends before it starts, score outside 0..1).
    """
    return incident_open(
        session=session, kind=kind, started_at=started_at, severity=severity,
        ended_at=ended_at, score=score, payload=payload,
    )


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
            # The incident's whole state as it now stands, for its log entry.
            incident.refresh_from_db()
            integrity_log_incident(incident=incident, change="decided")
        record = ReviewDecision.objects.create(
            session=session, incident=incident, reviewer=reviewer, decision=decision, note=note
        )
        integrity_log_decision(decision=record)
    return record


CLOSE_DECISIONS = frozenset(
    {ReviewDecision.Decision.CLOSE_CLEAR, ReviewDecision.Decision.CLOSE_VIOLATION}
)
Decision = ReviewDecision.Decision


def _review_is_closed(session: ExamSession) -> bool:
    return ReviewDecision.objects.filter(
        session=session, decision__in=list(CLOSE_DECISIONS)
    ).exists()


def _lock_session(session: ExamSession) -> None:
    # On PostgreSQL, serialise decisions on one session so that a close and a confirm
    # racing each other cannot both succeed; SQLite serialises writers anyway.
    ExamSession.objects.select_for_update().filter(pk=session.pk).first()


def _incident_decide(
    *, incident: Incident, reviewer: AbstractBaseUser, decision: str, note: str
) -> ReviewDecision:
    session = incident.session
    with transaction.atomic():
        _lock_session(session)
        if _review_is_closed(session):
            raise ReviewClosed(
                f"The review of session {session.pk} is closed; incident {incident.pk} "
                "can no longer be decided."
            )
        # The conditional UPDATE and the integrity entry (review_decision_record).
        record = review_decision_record(
            session=session, reviewer=reviewer, decision=decision, incident=incident,
            note=note,
        )
        new_status = record.incident.status
        audit_record(
            actor=reviewer,
            action=incident_decided_action(new_status),
            session=session,
            target=f"incident:{incident.pk}",
            reason=note,
            detail={"decision": decision, "kind": incident.kind, "decision_id": record.pk},
        )
    return record


def incident_confirm(
    *, incident: Incident, reviewer: AbstractBaseUser, note: str = ""
) -> ReviewDecision:
    """Confirm a pending incident. Raises IncidentAlreadyDecided or ReviewClosed."""
    return _incident_decide(
        incident=incident, reviewer=reviewer, decision=Decision.CONFIRM, note=note
    )


def incident_dismiss(
    *, incident: Incident, reviewer: AbstractBaseUser, note: str = ""
) -> ReviewDecision:
    """Dismiss a pending incident. Raises IncidentAlreadyDecided or ReviewClosed."""
    return _incident_decide(
        incident=incident, reviewer=reviewer, decision=Decision.DISMISS, note=note
    )


def incidents_bulk_dismiss(
    *, incidents: Iterable[Incident], reviewer: AbstractBaseUser, note: str
) -> int:
    """Dismiss every pending incident given whose review is open; return how many.

    Each dismissal is recorded like a single one (decision, audit, integrity); decided
    incidents and closed reviews are skipped, not failed, so one bulk action over a
    mixed selection does what it can. The caller has already scoped ``incidents`` to
    what the reviewer may judge (reviews/permissions.py).
    """
    dismissed = 0
    with transaction.atomic():
        for incident in incidents:
            try:
                with transaction.atomic():
                    _incident_decide(
                        incident=incident, reviewer=reviewer, decision=Decision.DISMISS,
                        note=note,
                    )
            except (IncidentAlreadyDecided, ReviewClosed):
                continue
            dismissed += 1
    return dismissed


def review_close(
    *, session: ExamSession, reviewer: AbstractBaseUser, outcome: str, note: str = ""
) -> ReviewDecision:
    """Close a session's review with an outcome (clear or violation).

    Raises InvalidOutcome for anything but close_clear/close_violation, and ReviewClosed
    when the review already has an outcome.
    """
    if outcome not in CLOSE_DECISIONS:
        raise InvalidOutcome(
            f"Outcome {outcome!r} is not one of {', '.join(sorted(CLOSE_DECISIONS))}."
        )
    with transaction.atomic():
        _lock_session(session)
        if _review_is_closed(session):
            raise ReviewClosed(
                f"The review of session {session.pk} already has an outcome; it cannot be "
                "closed twice."
            )
        record = review_decision_record(
            session=session, reviewer=reviewer, decision=outcome, note=note
        )
        audit_record(
            actor=reviewer,
            action=AuditAction.REVIEW_CLOSED,
            session=session,
            target=f"session:{session.pk}",
            reason=note,
            detail={"decision": outcome, "decision_id": record.pk},
        )
        # Whoever must hear of an outcome (the LMS's webhook, docs/api.md) listens here.
        review_closed.send(sender=ReviewDecision, session=session, decision=record)
    return record


def appeal_submit(*, session: ExamSession, student: AbstractBaseUser, text: str) -> Appeal:
    """Record the student's response to their session's review.

    Raises AppealNotAllowed when the session is not theirs, has not ended, or already
    has an appeal (one per session, enforced by the database too).
    """
    text = text.strip()
    if session.student_id != student.pk or not session.is_finished:
        raise AppealNotAllowed(
            f"Session {session.pk} is not an ended session of this student; a response can "
            "be added only to your own session after it ends."
        )
    if not text:
        raise AppealNotAllowed("The response is empty; write what you want reviewers to know.")
    try:
        with transaction.atomic():
            appeal = Appeal.objects.create(session=session, author=student, text=text)
            audit_record(
                actor=student,
                action=AuditAction.REVIEW_APPEAL_SUBMITTED,
                session=session,
                target=f"appeal:{appeal.pk}",
                detail={"length": len(text)},
            )
            integrity_log_appeal(appeal=appeal)  # the text only as a digest
    except IntegrityError as exc:
        raise AppealNotAllowed(
            f"Session {session.pk} already has a response; only one can be added."
        ) from exc
    return appeal
