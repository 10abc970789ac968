"""The review workspace's tables in the tamper-evident log: how each row's state is logged.

Registered in ReviewsConfig.ready() (reviews/integrity_records.py explains the registry).
A state holds ids, enum values, times and keyed digests only: encrypted columns are
committed to by their ciphertext, so checking them decrypts nothing and needs no key of
the session (a shredded one included). The services log each write:
``integrity_log_incident``, ``integrity_log_decision``, ``integrity_log_appeal`` and
``integrity_log_evidence`` (reviews/integrity.py).
"""

from __future__ import annotations

from typing import Any

from reviews.integrity import Kind
from reviews.integrity_records import (
    Commit,
    ContentErased,
    ContentUnreadable,
    RecordType,
    milli,
    register_record_type,
)
from reviews.models import Appeal, Evidence, Incident, ReviewDecision
from reviews.privacy.errors import DecryptionFailed, SessionShredded

# Crypto-shredding (reviews/privacy/services.py session_shred) empties these columns.
_EMPTIED = Commit(b"")


def _incident_rows():
    return Incident.objects.values(
        "id", "session_id", "kind", "severity", "status", "started_at", "ended_at", "score",
        "uid", "payload", "created_at",
    )


def _incident_state(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "session": row["session_id"],
        "kind": row["kind"],
        "severity": row["severity"],
        "status": row["status"],
        "started_at": row["started_at"],
        "ended_at": row["ended_at"],
        "score_milli": milli(row["score"]),
        "uid": row["uid"],
        "payload": Commit(row["payload"]),
        "created_at": row["created_at"],
    }


def _decision_rows():
    return ReviewDecision.objects.values(
        "id", "session_id", "incident_id", "reviewer_id", "decision", "uid", "note", "created_at"
    )


def _decision_state(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "session": row["session_id"],
        "incident": row["incident_id"],
        "reviewer": row["reviewer_id"],
        "decision": row["decision"],
        "uid": row["uid"],
        "note": Commit(row["note"]),
        "created_at": row["created_at"],
    }


def _appeal_rows():
    return Appeal.objects.values("id", "session_id", "author_id", "uid", "text", "created_at")


def _appeal_state(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "session": row["session_id"],
        "author": row["author_id"],
        "uid": row["uid"],
        "text": Commit(row["text"]),
        "created_at": row["created_at"],
    }


def _evidence_rows():
    return Evidence.objects.values(
        "id", "session_id", "incident_id", "seq", "captured_at", "image", "content_type",
        "width", "height", "sha256", "created_at",
    )


def _evidence_state(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "session": row["session_id"],
        "incident": row["incident_id"],
        "seq": row["seq"],
        "captured_at": row["captured_at"],
        "image": Commit(row["image"]),  # a name of up to 255 characters
        "content_type": row["content_type"],
        "width": row["width"],
        "height": row["height"],
        "sha256": row["sha256"],
        "created_at": row["created_at"],
    }


def _evidence_content(row: dict[str, Any]) -> bytes:
    """The frame as stored, decrypted: its SHA-256 is the one logged when it was stored."""
    from reviews.storage_services import current_evidence_storage  # it imports the log

    name = row["image"]
    try:
        with current_evidence_storage().open(name, "rb") as handle:
            return handle.read()
    except SessionShredded as exc:  # its key is destroyed: erased, whatever bytes remain
        raise ContentErased(str(exc)) from exc
    except DecryptionFailed as exc:
        raise ContentUnreadable(
            f"the stored object {name} does not decrypt, so it was replaced or altered: {exc}"
        ) from exc
    except (OSError, ValueError) as exc:
        raise ContentUnreadable(f"its stored object {name} cannot be read: {exc}") from exc


def register() -> None:
    register_record_type(RecordType(
        name="incident",
        rows=_incident_rows,
        state=_incident_state,
        on_shred={"payload": _EMPTIED},
        describe=lambda state: f"{state['kind']}",
    ))
    register_record_type(RecordType(
        name="review_decision",
        rows=_decision_rows,
        state=_decision_state,
        kinds={"created": Kind.REVIEW_DECISION},
        on_shred={"note": _EMPTIED},
        describe=lambda state: f"{state['decision']}",
    ))
    register_record_type(RecordType(
        name="appeal",
        rows=_appeal_rows,
        state=_appeal_state,
        kinds={"created": Kind.APPEAL},
        on_shred={"text": _EMPTIED},  # reviews/receivers.py empties it
    ))
    register_record_type(RecordType(
        name="evidence",
        rows=_evidence_rows,
        state=_evidence_state,
        kinds={"stored": Kind.EVIDENCE_STORED},
        on_shred="delete",
        content=_evidence_content,
        content_digest_field="sha256",
        describe=lambda state: f"frame {state['seq']}",
    ))
