"""The stream's tables in the tamper-evident log: how each incident's and evidence frame's
state is logged.

Registered in MonitoringConfig.ready() (integrity/records.py explains the registry). A
state holds ids, enum values, times and keyed digests only: encrypted columns are
committed to by their ciphertext, so checking them decrypts nothing and needs no key of
the session (a shredded one included). monitoring/incidents.py logs every incident
change and every change of an evidence frame's incident; evidence.py logs each frame
stored.
"""

from __future__ import annotations

from typing import Any

from integrity.records import (
    Commit,
    ContentErased,
    ContentUnreadable,
    RecordType,
    milli,
    register_record_type,
)
from integrity.services import Kind
from monitoring.evidence import current_evidence_storage
from monitoring.models import Evidence, Incident
from privacy.errors import DecryptionFailed, SessionShredded

# Crypto-shredding (lifecycle/services.py session_shred) empties these columns.
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
        name="evidence",
        rows=_evidence_rows,
        state=_evidence_state,
        kinds={"stored": Kind.EVIDENCE_STORED},
        on_shred="delete",
        content=_evidence_content,
        content_digest_field="sha256",
        describe=lambda state: f"frame {state['seq']}",
    ))
