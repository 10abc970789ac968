"""Reads for the streaming path and the reviewers' live view."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.http import Http404

from exams import permissions
from exams.models import ExamSession
from monitoring.models import Incident, LiveState, Receipt

User = AbstractBaseUser | AnonymousUser

_DONE = Q(processed_at__isnull=False) | Q(failed_at__isnull=False)


def session_get_for_stream(*, user: User, session_id: UUID) -> ExamSession:
    """The user's own session (with its exam); anyone else's is missing (404)."""
    session = (
        ExamSession.objects.select_related("exam__course").filter(pk=session_id).first()
    )
    if session is None or not permissions.is_session_owner(user, session):
        raise Http404("No such exam session.")
    return session


def session_state(*, session_id: UUID | str) -> str | None:
    return ExamSession.objects.filter(pk=session_id).values_list("state", flat=True).first()


def receipt_status(*, session_id: UUID | str, stream: str, seq: int) -> Receipt | None:
    return (
        Receipt.objects.filter(session_id=session_id, stream=stream, seq=seq)
        .only("processed_at", "failed_at", "received_at")
        .first()
    )


def receipt_highest_contiguous(*, session_id: UUID | str, stream: str) -> int:
    """The highest N such that messages 1..N are all done (processed or quarantined).

    The page deletes its outbox up to N and resends everything after it, oldest first.
    """
    done = Receipt.objects.filter(_DONE, session_id=session_id, stream=stream)
    if not done.filter(seq=1).exists():
        return 0
    successor_done = done.filter(seq=OuterRef("seq") + 1)
    first_gap = (
        done.annotate(has_next=Exists(successor_done))
        .filter(has_next=False)
        .order_by("seq")
        .values_list("seq", flat=True)
        .first()
    )
    return int(first_gap or 0)


def receipt_seqs_done(*, session_id: UUID | str, stream: str) -> list[int]:
    return list(
        Receipt.objects.filter(_DONE, session_id=session_id, stream=stream)
        .order_by("seq")
        .values_list("seq", flat=True)
    )


def sessions_live_for_staff(*, user: User) -> QuerySet[ExamSession]:
    """In-progress sessions of the courses the user staffs, with what the view shows."""
    return permissions.scope_courses(
        ExamSession.objects.filter(state=ExamSession.State.IN_PROGRESS),
        user,
        path="exam__course",
    ).select_related("exam__course", "student", "live_state").order_by("exam__title", "pk")


def live_row(*, session: ExamSession, open_kinds: list[str] | None = None) -> dict[str, Any]:
    """The live view's row for one session, as JSON-able values (``open_kinds``: the kinds
    of its open incidents when the caller fetched them already)."""
    try:
        live: LiveState | None = session.live_state
    except LiveState.DoesNotExist:
        live = None
    if open_kinds is None:
        open_kinds = sorted(
            Incident.objects.filter(session=session, ended_at__isnull=True)
            .values_list("kind", flat=True)
            .distinct()
        )
    return {
        "session": str(session.pk),
        "student": session.student.get_username(),
        "exam": session.exam.title,
        "course_id": session.exam.course_id,
        "state": session.state,
        "face_count": None if live is None else live.face_count,
        "open_incidents": open_kinds,
        "last_frame_at": (
            live.last_frame_captured_at.isoformat()
            if live is not None and live.last_frame_captured_at
            else None
        ),
        "frames": 0 if live is None else live.frames_processed,
        "buffered": 0 if live is None else live.buffered,
        "is_connected": bool(live and live.is_connected),
    }


def live_rows_for_staff(*, user: User) -> list[dict[str, Any]]:
    sessions = list(sessions_live_for_staff(user=user))
    open_kinds: dict[Any, set[str]] = {s.pk: set() for s in sessions}
    for session_id, kind in Incident.objects.filter(
        session__in=sessions, ended_at__isnull=True
    ).values_list("session_id", "kind"):
        open_kinds[session_id].add(kind)
    return [live_row(session=s, open_kinds=sorted(open_kinds[s.pk])) for s in sessions]


def course_ids_for_live_view(*, user: User) -> list[int]:
    return list(permissions.courses_for_staff(user).values_list("pk", flat=True))
