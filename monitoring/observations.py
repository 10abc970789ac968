"""What vision measured on each analysed frame, kept as numbers for the review timeline."""

from __future__ import annotations

import math
from datetime import datetime

from django.utils import timezone

from exams.models import ExamSession
from monitoring.errors import ObservationInvalid
from monitoring.models import FrameObservation


def _finite_or_none(name: str, value: float | None) -> float | None:
    if value is None:
        return None
    value = float(value)
    if not math.isfinite(value):
        raise ObservationInvalid(f"{name}={value!r} is not a finite number.")
    return value


def observation_record(
    *,
    session: ExamSession,
    seq: int,
    captured_at: datetime,
    face_count: int,
    yaw_deg: float | None = None,
    pitch_deg: float | None = None,
    gaze_x: float | None = None,
    gaze_y: float | None = None,
) -> None:
    """Store what vision measured on frame ``seq``; idempotent per (session, seq).

    Called by the stream pipeline once per analysed frame (possibly again on a retry:
    the first write wins). Raises ObservationInvalid for a negative face count, a naive
    time or a non-finite number. Not audited: it is measurement, not a decision.
    """
    if face_count < 0 or seq < 0:
        raise ObservationInvalid(
            f"Frame {seq} of session {session.pk}: face_count={face_count} and seq must "
            "not be negative."
        )
    if timezone.is_naive(captured_at):
        raise ObservationInvalid(
            f"Frame {seq} of session {session.pk}: captured_at {captured_at} has no time "
            "zone; pass an aware datetime."
        )
    values = {
        "captured_at": captured_at,
        "face_count": face_count,
        "yaw_deg": _finite_or_none("yaw_deg", yaw_deg),
        "pitch_deg": _finite_or_none("pitch_deg", pitch_deg),
        "gaze_x": _finite_or_none("gaze_x", gaze_x),
        "gaze_y": _finite_or_none("gaze_y", gaze_y),
    }
    # One INSERT ... ON CONFLICT DO NOTHING: it runs for every webcam frame.
    FrameObservation.objects.bulk_create(
        [FrameObservation(session=session, seq=seq, **values)], ignore_conflicts=True
    )
