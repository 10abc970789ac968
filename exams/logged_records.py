"""Exam sessions in the tamper-evident log: how a session row's state is logged.

Registered in ExamsConfig.ready() (integrity/records.py explains the registry).
exams/services.py logs every write (``session_open``: "created"; each transition under its
name: "consent", "start", "submit", ...), and crypto-shredding logs "shredded", the entry
that also stands for the erasure of the session's other records.
"""

from __future__ import annotations

from typing import Any

from exams.models import ExamSession
from integrity.records import Commit, RecordType, register_record_type


def _session_rows():
    return ExamSession.objects.values(
        "id", "exam_id", "student_id", "state", "created_at", "consented_at",
        "camera_checked_at", "started_at", "deadline_at", "ended_at", "end_reason",
        "client_info",
    )


def _session_state(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "exam": row["exam_id"],
        "student": row["student_id"],
        "state": row["state"],
        "created_at": row["created_at"],
        "consented_at": row["consented_at"],
        "camera_checked_at": row["camera_checked_at"],
        "started_at": row["started_at"],
        "deadline_at": row["deadline_at"],
        "ended_at": row["ended_at"],
        # Free text (a terminating proctor's reason) and the browser's details: digests.
        "end_reason": Commit(row["end_reason"]),
        "client_info": Commit(row["client_info"] or {}),
    }


def register() -> None:
    register_record_type(RecordType(
        name="exam_session",
        rows=_session_rows,
        state=_session_state,
        session_field="id",
        describe=lambda state: f"{state['state']}",
    ))
