"""Writes of evidence to storage, with the local encrypted spool as the fallback.

``evidence_store`` puts an anonymized frame in the configured storage (the object store
when PROCTOR_S3_BUCKET is set, else the local filesystem) and only then creates its
Evidence row, logged in the tamper-evident log. When the object store is unreachable the
frame goes to the spool (monitoring/spool.py) and a SpooledEvidence row remembers it;
``evidence_spool_sync`` (the Celery task ``reviews.evidence_spool_sync``) uploads spooled
frames oldest first, stopping at the first failure so that none overtakes another.

Idempotent by construction: an object's name is fixed by its session and sequence number,
so an upload repeated after a crash finds its object already there, and Evidence rows are
unique per (session, seq).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import mimetypes
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.db import connection, transaction
from django.db.models import F
from django.dispatch import receiver

from exams.models import ExamSession
from integrity.records import integrity_log_evidence
from monitoring.errors import SpoolCorrupted
from monitoring.incidents import incident_span_contains
from monitoring.models import Evidence, Incident, SpooledEvidence
from monitoring.spool import spool_read, spool_remove, spool_write
from privacy.errors import SessionShredded
from privacy.signals import session_shredding

logger = logging.getLogger(__name__)

_SYNC_LOCK_ID = 0x53504F4C  # "SPOL": one syncing worker at a time keeps the order


def current_evidence_storage():
    """Evidence's storage, looked up on each call rather than kept from start-up.

    The "evidence" alias when settings define one (the encryption work wraps "default"
    in it), else "default"; looking it up each time follows STORAGES when it changes.
    """
    return storages["evidence" if "evidence" in settings.STORAGES else "default"]


def is_store_unreachable(exc: BaseException) -> bool:
    """True for failures that waiting can cure: no connection, timeouts, 5xx answers.

    Anything else (access denied, no such bucket) is a configuration error and raises:
    spooling would only hide it.
    """
    try:
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:  # pragma: no cover - botocore is in requirements/base.txt
        return False
    if isinstance(exc, BotoCoreError):
        return True
    if isinstance(exc, ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return status >= 500
    return False


def evidence_object_name(*, session_id, seq: int, content_type: str) -> str:
    """One name per frame (session, sequence number): a repeated upload lands on itself.

    Nothing about the content goes in the name, which the object store's logs may show.
    """
    extension = mimetypes.guess_extension(content_type) or ".bin"
    return f"evidence/{session_id}/{seq:08d}{extension}"


def _upload(name: str, content: bytes) -> None:
    storage = current_evidence_storage()
    if storage.exists(name):  # a repeat after a crash: the bytes are already there
        return
    saved = storage.save(name, ContentFile(content))
    if saved != name:
        # A storage that renamed instead of overwriting: tidy up and say so.
        storage.delete(saved)
        raise RuntimeError(f"Storage saved {name} as {saved}; configure it to overwrite.")


def _evidence_create(
    *, session_id, seq: int, captured_at: datetime, name: str, content_type: str,
    width: int, height: int, sha256: str, incident_id: int | None,
) -> Evidence:
    if incident_id is not None:
        incident = Incident.objects.filter(pk=incident_id).only("started_at", "ended_at").first()
        # Deleted while the frame waited, or closed before the frame's capture time (a
        # frame spooled while the incident was open): keep the frame, drop the link.
        if incident is None or not incident_span_contains(
            incident=incident, captured_at=captured_at
        ):
            incident_id = None
    evidence, created = Evidence.objects.get_or_create(
        session_id=session_id,
        seq=seq,
        defaults={
            "captured_at": captured_at,
            "image": name,
            "content_type": content_type,
            "width": width,
            "height": height,
            "sha256": sha256,
            "incident_id": incident_id,
        },
    )
    if created:
        integrity_log_evidence(evidence=evidence)
    return evidence


def evidence_store(
    *,
    session: ExamSession,
    seq: int,
    captured_at: datetime,
    content: bytes,
    content_type: str = "image/jpeg",
    width: int = 0,
    height: int = 0,
    incident_id: int | None = None,
) -> Evidence | SpooledEvidence:
    """Store an anonymized frame durably; return its Evidence, or its spool entry.

    A SpooledEvidence return means the object store was unreachable (or older frames are
    still waiting, which this one must not overtake): the frame is encrypted on local disk
    and shows up as Evidence once the sync task has uploaded it. Raises
    EvidenceStorageError when it cannot be spooled either (the client should resend), and
    the storage's own error for anything waiting cannot cure.
    """
    sha256 = hashlib.sha256(content).hexdigest()
    name = evidence_object_name(session_id=session.pk, seq=seq, content_type=content_type)
    fields = {
        "session_id": session.pk, "seq": seq, "captured_at": captured_at,
        "content_type": content_type, "width": width, "height": height, "sha256": sha256,
        "incident_id": incident_id,
    }
    if not SpooledEvidence.objects.exists():
        try:
            _upload(name, content)
        except Exception as exc:
            if not is_store_unreachable(exc):
                raise
            logger.warning(
                "Object store unreachable; spooling frame %s of session %s: %s",
                seq, session.pk, exc,
            )
        else:
            # No savepoint: inside the frame's transaction this runs for every frame, and
            # any error here fails that whole transaction anyway.
            with transaction.atomic(savepoint=False):
                return _evidence_create(name=name, **fields)
    file_name = spool_write(session_id=session.pk, object_name=name, content=content)
    with transaction.atomic():
        entry, _ = SpooledEvidence.objects.get_or_create(
            session_id=session.pk,
            seq=seq,
            defaults={
                **{key: value for key, value in fields.items() if key != "session_id"},
                "object_name": name,
                "size_bytes": len(content),
                "spool_file": file_name,
            },
        )
    if entry.spool_file != file_name:  # the same frame was spooled before: keep one copy
        spool_remove(file_name)
    return entry


@receiver(session_shredding, dispatch_uid="monitoring.spool.shred")
def spool_shred_session(*, session: ExamSession, **kwargs) -> int:
    """Shredding a session drops its frames still waiting in the spool.

    Runs inside the shredding transaction (lifecycle/services.py); the files go
    after commit. They were sealed under the session's destroyed key in any case.
    """
    entries = list(SpooledEvidence.objects.filter(session=session).values_list(
        "pk", "spool_file"
    ))
    SpooledEvidence.objects.filter(pk__in=[pk for pk, _ in entries]).delete()
    for _, file_name in entries:
        transaction.on_commit(functools.partial(spool_remove, file_name))
    return len(entries)


@dataclass(frozen=True)
class SyncResult:
    stored: int
    remaining: int
    error: str = ""


@contextlib.contextmanager
def _sync_lock() -> Iterator[bool]:
    """One syncing worker at a time, or two could upload out of order. SQLite: no-op."""
    if connection.vendor != "postgresql":
        yield True
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [_SYNC_LOCK_ID])
        acquired = cursor.fetchone()[0]
    try:
        yield acquired
    finally:
        if acquired:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [_SYNC_LOCK_ID])


def evidence_spool_sync(*, limit: int = 500) -> SyncResult:
    """Upload spooled frames oldest first; stop at the first the store refuses for now.

    Safe to run twice or concurrently (a second runner finds the lock taken and returns).
    Raises SpoolCorrupted when a spool file fails to decrypt or its digest differs: that
    frame is then kept, with the reason, for an operator to look at.
    """
    stored = 0
    error = ""
    with _sync_lock() as acquired:
        if not acquired:
            return SyncResult(0, SpooledEvidence.objects.count(), "another sync is running")
        for entry in SpooledEvidence.objects.order_by("id")[:limit]:
            try:
                content = spool_read(
                    session_id=entry.session_id, object_name=entry.object_name,
                    file_name=entry.spool_file,
                )
            except SessionShredded:
                # Shredded after this batch was read: the frame is erased, not pending.
                SpooledEvidence.objects.filter(pk=entry.pk).delete()
                spool_remove(entry.spool_file)
                continue
            if hashlib.sha256(content).hexdigest() != entry.sha256:
                raise SpoolCorrupted(
                    f"Spooled frame {entry.seq} of session {entry.session_id} does not match "
                    "its recorded SHA-256; it was kept for inspection."
                )
            try:
                _upload(entry.object_name, content)
            except Exception as exc:
                if not is_store_unreachable(exc):
                    raise
                error = f"{type(exc).__name__}: {exc}"[:300]
                SpooledEvidence.objects.filter(pk=entry.pk).update(
                    attempts=F("attempts") + 1, last_error=error
                )
                logger.warning("Object store still unreachable; %s frames wait: %s",
                               SpooledEvidence.objects.count(), error)
                break
            with transaction.atomic():
                _evidence_create(
                    session_id=entry.session_id, seq=entry.seq, captured_at=entry.captured_at,
                    name=entry.object_name, content_type=entry.content_type,
                    width=entry.width, height=entry.height, sha256=entry.sha256,
                    incident_id=entry.incident_id,
                )
                SpooledEvidence.objects.filter(pk=entry.pk).delete()
                transaction.on_commit(functools.partial(spool_remove, entry.spool_file))
            stored += 1
    return SyncResult(stored, SpooledEvidence.objects.count(), error)
