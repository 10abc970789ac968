"""The review workspace's tables in the tamper-evident log: how each decision's and
appeal's state is logged.

Registered in ReviewsConfig.ready() (integrity/records.py explains the registry). A
state holds ids, enum values, times and keyed digests only; encrypted columns are
committed to by their ciphertext. reviews/services.py logs each write.
"""

from __future__ import annotations

from typing import Any

from integrity.records import Commit, RecordType, register_record_type
from integrity.services import Kind
from reviews.models import Appeal, ReviewDecision

# Crypto-shredding (lifecycle/services.py session_shred) empties these columns.
_EMPTIED = Commit(b"")


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


def register() -> None:
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
