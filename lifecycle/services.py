"""Writes of the data lifecycle. Every one is audited.

* Crypto-shredding: ``session_shred`` destroys a session's data key, empties its encrypted
  columns, deletes its stored objects and keeps only non-personal aggregates.
* Retention: ``retention_apply`` shreds every session past its exam's retention period.
* Export: ``student_data_export`` builds the decrypted DSAR zip with a manifest.
* Erasure: ``erasure_request`` → ``erasure_decide`` (institution admin) → shredded.
* Originals and break-glass: ``original_frame_store``, ``break_glass_request``,
  ``break_glass_approve``, ``break_glass_reject``, ``original_frame_open``.

Services raise privacy.errors subclasses; edges translate NotAllowed into 404.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.files.base import ContentFile
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from audit.actions import AuditAction
from audit.models import AuditEvent
from audit.services import audit_record
from exams import permissions
from exams.models import ExamSession, Institution
from integrity.records import SHREDDED, integrity_record_log
from integrity.services import Kind, integrity_append
from lifecycle import selectors
from lifecycle.models import BreakGlassGrant, ErasureRequest, OriginalFrame, ShredRecord
from monitoring.models import Evidence, Incident
from privacy import access, keys
from privacy.errors import (
    BreakGlassRefused,
    ErasureBlocked,
    IllegalRequestState,
    OriginalsNotKept,
    SessionShredded,
)
from privacy.fields import Ciphertext
from privacy.models import SessionKey
from privacy.services import not_found, readable
from privacy.signals import session_shredding
from privacy.storage import delete_session_files, evidence_storage
from reviews.models import Appeal, ReviewDecision

logger = logging.getLogger(__name__)

FILE_AREAS = ("evidence", "originals")


# Crypto-shredding -----------------------------------------------------------------------


def _aggregates(session: ExamSession) -> dict[str, Any]:
    """Non-personal counts kept after shredding (for exam statistics and audit)."""
    incidents = Incident.objects.filter(session=session)
    outcome = (
        ReviewDecision.objects.filter(session=session, decision__in=selectors.CLOSING_DECISIONS)
        .order_by("-created_at")
        .values_list("decision", flat=True)
        .first()
    )
    return {
        "exam": session.exam_id,
        "state": session.state,
        "incidents_by_kind": dict(Counter(incidents.values_list("kind", flat=True))),
        "incidents_by_severity": dict(Counter(incidents.values_list("severity", flat=True))),
        "incidents_by_status": dict(Counter(incidents.values_list("status", flat=True))),
        "evidence": Evidence.objects.filter(session=session).count(),
        "original_frames": OriginalFrame.objects.filter(session=session).count(),
        "review_outcome": outcome or "",
    }


def session_shred(
    *, session: ExamSession, cause: str, actor: AbstractBaseUser | None = None,
    now: datetime | None = None,
) -> ShredRecord:
    """Crypto-shred one session. Idempotent: a shredded session returns its record.

    In one transaction: the data key is destroyed (the row stays as a tombstone, so no new
    key is ever minted for the session), encrypted columns are emptied, evidence and
    original-frame rows are deleted, the session's free-form fields are cleared, and a
    ShredRecord with non-personal aggregates plus an audit entry are written. The stored
    objects are deleted after commit; any copy left anywhere (backup, object-store
    replica, spool) is ciphertext under the destroyed key.
    """
    now = now or timezone.now()
    with transaction.atomic():
        # Lock the session row: two shredders (beat task and an erasure) serialise here.
        session = ExamSession.objects.select_for_update().get(pk=session.pk)
        existing = ShredRecord.objects.filter(session_ref=session.pk).first()
        if existing is not None:
            return existing
        aggregates = _aggregates(session)
        object_count = aggregates["evidence"] + aggregates["original_frames"]
        updated = SessionKey.objects.filter(session=session).update(
            wrapped_dek=b"", shredded_at=now
        )
        if not updated:
            SessionKey.objects.create(
                session=session, kek_version=0, wrapped_dek=b"", shredded_at=now
            )
        keys.cache_evict(session.pk)
        Incident.objects.filter(session=session).update(payload=Ciphertext(b""))
        ReviewDecision.objects.filter(session=session).update(note=Ciphertext(b""))
        Evidence.objects.filter(session=session).delete()
        OriginalFrame.objects.filter(session=session).delete()
        ExamSession.objects.filter(pk=session.pk).update(client_info={}, end_reason="")
        for _receiver, extra in session_shredding.send(sender=ExamSession, session=session):
            object_count += extra or 0
        # The session's new state; this entry also tells verify_integrity that the
        # session's other records were emptied or deleted here (integrity_records.py).
        integrity_record_log(record_type="exam_session", record=session, change=SHREDDED)
        record = ShredRecord.objects.create(
            session_ref=session.pk, exam=session.exam, cause=cause, actor=actor,
            aggregates=aggregates, objects_deleted=object_count, shredded_at=now,
        )
        audit_record(
            actor=actor, action=AuditAction.PRIVACY_SHRED, session=session,
            target=f"session:{session.pk}", reason=ShredRecord.Cause(cause).label,
            detail={"objects_deleted": object_count, "aggregates": aggregates},
        )
        session_id = session.pk

        def _delete_objects() -> None:
            keys.cache_evict(session_id)
            deleted = delete_session_files(session_id, areas=FILE_AREAS)
            logger.info("session %s shredded: %d stored objects deleted", session_id, deleted)

        transaction.on_commit(_delete_objects)
    return record


@dataclass
class RetentionReport:
    shredded: list[str] = field(default_factory=list)
    held: list[str] = field(default_factory=list)
    originals_purged: int = 0


def original_frames_purge_expired(*, now: datetime) -> int:
    """Delete retained originals past their exam's keep period. Returns how many."""
    purged = 0
    for frame in OriginalFrame.objects.filter(expires_at__lte=now).select_related("session"):
        with transaction.atomic():
            name = frame.image.name
            frame.delete()
            audit_record(
                actor=None, action=AuditAction.PRIVACY_ORIGINAL_PURGE, session=frame.session,
                target=f"privacy.originalframe:seq={frame.seq}",
            )
            transaction.on_commit(lambda name=name: evidence_storage().delete(name))
        purged += 1
    return purged


def retention_apply(*, now: datetime | None = None, limit: int | None = None) -> RetentionReport:
    """Shred every session whose exam's retention period has ended; purge old originals.

    A session whose review is still open is held (legal hold) and retried on the next
    run. One transaction per session, so an interrupted run keeps what it did and the
    next run carries on. Returns what it did; the run is audited as a whole too.
    """
    now = now or timezone.now()
    limit = limit or settings.PROCTOR_RETENTION_BATCH
    report = RetentionReport()
    due = selectors.sessions_due_for_retention(now=now)
    held_ids = set(selectors.sessions_with_open_review(due).values_list("pk", flat=True))
    for session in due[: limit + len(held_ids)]:
        if session.pk in held_ids:
            report.held.append(str(session.pk))
            continue
        if len(report.shredded) >= limit:
            break
        session_shred(session=session, cause=ShredRecord.Cause.RETENTION, now=now)
        report.shredded.append(str(session.pk))
    report.originals_purged = original_frames_purge_expired(now=now)
    if report.shredded or report.held or report.originals_purged:
        audit_record(
            actor=None, action=AuditAction.PRIVACY_RETENTION_RUN,
            detail={
                "at": now.isoformat(), "shredded": len(report.shredded),
                "held_open_review": report.held, "originals_purged": report.originals_purged,
            },
        )
    return report


# Data export (DSAR) ---------------------------------------------------------------------


def _json(value: Any) -> bytes:
    return json.dumps(value, cls=DjangoJSONEncoder, indent=2, sort_keys=True).encode()


def student_data_export(*, student: AbstractBaseUser, actor: AbstractBaseUser) -> bytes:
    """A zip of everything held about ``student``, decrypted, with ``manifest.json``.

    Per session: the session, its incidents (with decrypted details), review decisions
    (decrypted notes; reviewers named by role only, they are other people), the appeal,
    anonymized evidence images, break-glass grants and the audit entries about it.
    Shredded sessions are listed with what was kept.

    Each session's record beyond the session itself goes in only where ``actor`` may read
    its decrypted content (privacy/access.py): the student's own once the session has
    ended, so a running session is listed as such and nothing more; an institution admin
    gets the sessions of their institution's courses, not of another's. Raises
    NotAllowed; the export is audited.
    """
    if not permissions.can_export_student_data(actor, student):
        raise not_found()
    own_sessions = ExamSession.objects.filter(student=student)
    visible = set(permissions.scope_sessions(own_sessions, actor).values_list("pk", flat=True))
    decryptable = set(
        access.sessions_with_decrypted_access(actor)
        .filter(pk__in=own_sessions.values("pk"))
        .values_list("pk", flat=True)
    )
    buffer = io.BytesIO()
    manifest: dict[str, Any] = {
        "format": "proctor-dsar-v1",
        "student": {"id": student.pk, "username": student.get_username(),
                    "email": getattr(student, "email", "")},
        "generated_at": timezone.now(),
        "files": [],
        "counts": Counter(),
    }

    def add(path: str, data: bytes, kind: str) -> None:
        archive.writestr(path, data)
        manifest["files"].append(
            {"path": path, "kind": kind, "bytes": len(data),
             "sha256": hashlib.sha256(data).hexdigest()}
        )
        manifest["counts"][kind] += 1

    with transaction.atomic(), zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        shredded = {
            r.session_ref: r for r in ShredRecord.objects.filter(
                session_ref__in=ExamSession.objects.filter(student=student).values("pk")
            )
        }
        for session in selectors.student_sessions_at(student=student):
            if session.pk not in visible:
                continue
            base = f"sessions/{session.pk}"
            info = {
                "id": session.pk, "exam": session.exam.title,
                "course": str(session.exam.course), "state": session.state,
                "created_at": session.created_at, "started_at": session.started_at,
                "ended_at": session.ended_at, "end_reason": session.end_reason,
                "client_info": session.client_info,
            }
            if session.pk in shredded:
                info["shredded"] = {
                    "at": shredded[session.pk].shredded_at,
                    "cause": shredded[session.pk].cause,
                    "kept_aggregates": shredded[session.pk].aggregates,
                }
            if session.pk not in decryptable:
                info["withheld"] = (
                    "The session's incidents, review and evidence are exported once it "
                    "has ended."
                )
                add(f"{base}/session.json", _json(info), "session")
                continue
            add(f"{base}/session.json", _json(info), "session")
            incidents = [
                {"kind": i.kind, "severity": i.severity, "started_at": i.started_at,
                 "ended_at": i.ended_at, "score": i.score, "status": i.status,
                 "details": readable(i.payload)}
                for i in Incident.objects.filter(session=session).order_by("started_at")
            ]
            add(f"{base}/incidents.json", _json(incidents), "incidents")
            decisions = [
                {"decision": d.decision, "incident_started_at":
                 d.incident.started_at if d.incident else None,
                 "note": d.note, "by": "reviewer", "at": d.created_at}
                for d in ReviewDecision.objects.filter(session=session).select_related("incident")
            ]
            add(f"{base}/review_decisions.json", _json(decisions), "review_decisions")
            appeal = Appeal.objects.filter(session=session).first()
            if appeal is not None:
                add(
                    f"{base}/appeal.json",
                    _json({"text": appeal.text, "at": appeal.created_at}),
                    "appeal",
                )
            for evidence in Evidence.objects.filter(session=session).order_by("seq"):
                with evidence.image.open("rb") as handle:
                    add(f"{base}/evidence/{evidence.seq:06d}.jpg", handle.read(), "evidence")
            grants = [
                {"requested_at": g.requested_at, "reason": g.reason, "status": g.status,
                 "expires_at": g.expires_at}
                for g in BreakGlassGrant.objects.filter(session=session)
            ]
            add(f"{base}/break_glass.json", _json(grants), "break_glass")
            events = [
                {"at": e.created_at, "action": e.action, "reason": e.reason}
                for e in AuditEvent.objects.filter(session=session).order_by("created_at")
            ]
            add(f"{base}/audit.json", _json(events), "audit")
        manifest["counts"] = dict(manifest["counts"])
        archive.writestr("manifest.json", _json(manifest))
        audit_record(
            actor=actor, action=AuditAction.PRIVACY_EXPORT, target=f"user:{student.pk}",
            detail={"files": len(manifest["files"]), "counts": manifest["counts"]},
        )
    return buffer.getvalue()


# Erasure --------------------------------------------------------------------------------


def erasure_request(
    *, student: AbstractBaseUser, institution: Institution, actor: AbstractBaseUser,
    reason: str = "",
) -> ErasureRequest:
    """Open an erasure request for the student's data at one institution.

    Raises NotAllowed, or IllegalRequestState when one is already open.
    """
    if not permissions.can_request_erasure(
        actor, student=student, institution_id=institution.pk
    ):
        raise not_found()
    with transaction.atomic():
        if ErasureRequest.objects.filter(
            student=student, institution=institution, status=ErasureRequest.Status.REQUESTED
        ).exists():
            raise IllegalRequestState(
                f"An erasure request for {student} at {institution} is already waiting for "
                "an institution admin; there is no need to ask again."
            )
        request = ErasureRequest.objects.create(
            student=student, institution=institution, requested_by=actor
        )
        audit_record(
            actor=actor, action=AuditAction.PRIVACY_ERASURE_REQUEST,
            target=f"erasure:{request.pk}",
            reason=reason, detail={"student": student.pk, "institution": institution.pk},
        )
    return request


def erasure_decide(
    *, request: ErasureRequest, actor: AbstractBaseUser, approve: bool, note: str = ""
) -> ErasureRequest:
    """An institution admin approves (then every session is shredded) or rejects.

    Raises NotAllowed; IllegalRequestState when already decided; ErasureBlocked, leaving
    the request open, while any of the student's sessions there is under open review (or
    appeal) or still running.
    """
    if not permissions.can_decide_erasure(actor, institution_id=request.institution_id):
        raise not_found()
    blocked: list[str] = []
    with transaction.atomic():
        request = ErasureRequest.objects.select_for_update().get(pk=request.pk)
        if request.status != ErasureRequest.Status.REQUESTED:
            raise IllegalRequestState(
                f"Erasure request {request.pk} is already {request.get_status_display()}."
            )
        sessions = selectors.student_sessions_at(
            student=request.student, institution_id=request.institution_id
        )
        if approve:
            blocked = [
                f"{s.exam.title}: review or appeal open"
                for s in selectors.sessions_with_open_review(sessions)
            ] + [f"{s.exam.title}: still running" for s in sessions if not s.is_finished]
        if not blocked:
            now = timezone.now()
            target = f"erasure:{request.pk}"
            shredded = 0
            if approve:
                audit_record(
                    actor=actor, action=AuditAction.PRIVACY_ERASURE_APPROVE, target=target,
                    reason=note,
                    detail={"student": request.student_id, "sessions": sessions.count()},
                )
                for session in sessions:
                    session_shred(
                        session=session, cause=ShredRecord.Cause.ERASURE, actor=actor, now=now
                    )
                    shredded += 1
            request.status = (
                ErasureRequest.Status.COMPLETED if approve else ErasureRequest.Status.REJECTED
            )
            request.decided_by = actor
            request.decided_at = now
            request.decision_note = note
            request.sessions_shredded = shredded
            request.save()
            audit_record(
                actor=actor,
                action=(
                    AuditAction.PRIVACY_ERASURE_COMPLETE if approve
                    else AuditAction.PRIVACY_ERASURE_REJECT
                ),
                target=target, reason=note,
                detail={"student": request.student_id, "sessions_shredded": shredded},
            )
            return request
    # Recorded after the (empty) transaction, so the refusal stays in the trail.
    audit_record(
        actor=actor, action=AuditAction.PRIVACY_ERASURE_REFUSED, target=f"erasure:{request.pk}",
        reason="; ".join(blocked),
    )
    raise ErasureBlocked(
        f"Erasure request {request.pk} cannot be approved yet: {'; '.join(blocked)}. "
        "Close the review or appeal (or wait for the session to end), then approve again."
    )


# Original frames and break-glass --------------------------------------------------------


def original_frame_store(
    *, session: ExamSession, seq: int, captured_at: datetime, data: bytes
) -> OriginalFrame:
    """Keep one raw frame, encrypted, for the exam's ``keep_originals_days``.

    Raises OriginalsNotKept when the exam has not opted in (the default): the caller must
    then drop the raw frame. Raises SessionShredded after shredding.
    """
    days = session.exam.keep_originals_days
    if days <= 0:
        raise OriginalsNotKept(
            f"{session.exam.title} keeps no original frames (keep_originals_days is 0); "
            "drop the raw frame after anonymizing it."
        )
    if SessionKey.objects.filter(session=session, shredded_at__isnull=False).exists():
        raise SessionShredded(f"Session {session.pk} is shredded; nothing more is stored.")
    with transaction.atomic():
        frame = OriginalFrame(
            session=session, seq=seq, captured_at=captured_at,
            expires_at=captured_at + timedelta(days=days),
        )
        frame.image.save("original.bin", ContentFile(data), save=False)
        frame.save()
    return frame


def break_glass_request(
    *, session: ExamSession, actor: AbstractBaseUser, reason: str
) -> BreakGlassGrant:
    """Ask to view a session's original frames. Needs a reason; a second person approves.

    Raises NotAllowed, BreakGlassRefused (no reason, no originals kept).
    """
    if not access.can_request_break_glass(actor, session):
        raise not_found()
    if len(reason.strip()) < 10:
        raise BreakGlassRefused(
            "State why the original frames must be seen (at least 10 characters); the "
            "reason is audited and shown to the approver."
        )
    if not OriginalFrame.objects.filter(session=session).exists():
        raise BreakGlassRefused(f"Session {session.pk} has no retained original frames.")
    with transaction.atomic():
        grant = BreakGlassGrant.objects.create(
            session=session, requested_by=actor, reason=reason.strip()
        )
        audit_record(
            actor=actor, action=AuditAction.PRIVACY_BREAK_GLASS_REQUEST, session=session,
            target=f"break_glass:{grant.pk}", reason=grant.reason,
        )
    return grant


def break_glass_approve(
    *, grant: BreakGlassGrant, actor: AbstractBaseUser, now: datetime | None = None
) -> BreakGlassGrant:
    """A second person (institution admin, not the requester) approves for a limited time.

    Raises BreakGlassRefused for the requester approving their own grant; NotAllowed for
    anyone else not entitled; IllegalRequestState when already decided.
    """
    now = now or timezone.now()
    if actor.pk == grant.requested_by_id:
        audit_record(
            actor=actor, action=AuditAction.PRIVACY_BREAK_GLASS_REFUSED, session=grant.session,
            target=f"break_glass:{grant.pk}", reason="self-approval",
        )
        raise BreakGlassRefused(
            "A break-glass grant needs a second approver: you cannot approve your own request."
        )
    if not permissions.can_approve_break_glass(
        actor, session=grant.session, requested_by_id=grant.requested_by_id
    ):
        raise not_found()
    with transaction.atomic():
        grant = BreakGlassGrant.objects.select_for_update().get(pk=grant.pk)
        if grant.status != BreakGlassGrant.Status.REQUESTED:
            raise IllegalRequestState(f"Break-glass grant {grant.pk} is already {grant.status}.")
        grant.status = BreakGlassGrant.Status.APPROVED
        grant.approved_by = actor
        grant.decided_at = now
        grant.expires_at = now + timedelta(minutes=settings.PROCTOR_BREAK_GLASS_GRANT_MIN)
        grant.save()
        audit_record(
            actor=actor, action=AuditAction.PRIVACY_BREAK_GLASS_APPROVE, session=grant.session,
            target=f"break_glass:{grant.pk}", reason=grant.reason,
            detail={"requested_by": grant.requested_by_id,
                    "expires_at": grant.expires_at.isoformat()},
        )
        # The grant in the tamper-evident log, by ids and times (the reason is free text).
        integrity_append(
            kind=Kind.BREAK_GLASS_GRANT, session=grant.session_id,
            data={"grant_id": grant.pk, "requested_by_id": grant.requested_by_id,
                  "approved_by_id": actor.pk, "expires_at": grant.expires_at.isoformat()},
        )
    return grant


def break_glass_reject(*, grant: BreakGlassGrant, actor: AbstractBaseUser) -> BreakGlassGrant:
    if not permissions.can_approve_break_glass(
        actor, session=grant.session, requested_by_id=grant.requested_by_id
    ):
        raise not_found()
    with transaction.atomic():
        updated = BreakGlassGrant.objects.filter(
            pk=grant.pk, status=BreakGlassGrant.Status.REQUESTED
        ).update(status=BreakGlassGrant.Status.REJECTED, decided_at=timezone.now())
        if not updated:
            raise IllegalRequestState(f"Break-glass grant {grant.pk} is already decided.")
        audit_record(
            actor=actor, action=AuditAction.PRIVACY_BREAK_GLASS_REJECT, session=grant.session,
            target=f"break_glass:{grant.pk}",
        )
    grant.refresh_from_db()
    return grant


def original_frame_open(
    *, frame: OriginalFrame, actor: AbstractBaseUser, now: datetime | None = None
) -> bytes:
    """The raw frame, for the holder of an active, approved grant on its session who may
    still read the session's decrypted content (privacy/access.py).

    Raises NotAllowed when they may not read it, BreakGlassRefused without a grant
    (audited as a refusal).
    """
    if not access.can_read_decrypted(actor, frame.session):
        raise not_found()
    now = now or timezone.now()
    grant = (
        BreakGlassGrant.objects.filter(
            session_id=frame.session_id, requested_by=actor,
            status=BreakGlassGrant.Status.APPROVED, expires_at__gt=now,
        )
        .order_by("-expires_at")
        .first()
    )
    if grant is None:
        audit_record(
            actor=actor, action=AuditAction.PRIVACY_BREAK_GLASS_REFUSED, session=frame.session,
            target=f"privacy.originalframe:{frame.pk}", reason="no active approved grant",
        )
        raise BreakGlassRefused(
            "Viewing an original frame needs your own break-glass grant on this session, "
            "approved by a second person and not expired. Request one with a reason."
        )
    with transaction.atomic():
        with frame.image.open("rb") as handle:
            data = handle.read()
        audit_record(
            actor=actor, action=AuditAction.PRIVACY_BREAK_GLASS_VIEW, session=frame.session,
            target=f"privacy.originalframe:{frame.pk}", reason=grant.reason,
            detail={"grant": grant.pk, "seq": frame.seq},
        )
    return data
