"""The streaming path's adapter onto the privacy core and the incident rules.

Everything here is pure (bytes, numpy, JSON-able dicts; no Django): the per-session state
a stream needs between frames (faces seen lately, the rules engine's snapshot) travels as
JSON, so a Celery task per frame can keep it in the database and any worker can carry on
where another stopped. ``monitoring/vision`` does the work: safe decode, both detectors,
anonymization that fails closed, head pose and gaze, the rules engine.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from monitoring.vision import decode
from monitoring.vision.anonymize import AnonymizationPolicy, anonymize_faces, blur_whole_frame
from monitoring.vision.audio import VoiceActivity
from monitoring.vision.behaviour import BehaviourAnalyzer
from monitoring.vision.detect import Face, merge_faces
from monitoring.vision.errors import VisionError
from monitoring.vision.pipeline import shared_face_finder
from monitoring.vision.rules import (
    CHECKS,
    FrameObservation,
    IncidentEvent,
    ObservationOutOfOrder,
    RuleEngine,
    RulePolicy,
)

__all__ = [
    "AnonymizationPolicy", "AnonymizedFrame", "IncidentEvent", "RulePolicy", "CHECKS",
    "anonymize", "check_frame_header", "decode_frame", "detector", "encode_jpeg",
    "person_count", "rules_finish", "rules_observe_frame", "rules_observe_voice",
]

BgrImage = npt.NDArray[np.uint8]

# Browsers send at most 640 px on the longest side (static/monitoring/capture.js); some
# headroom for cameras whose aspect ratio the page cannot scale exactly. Far below the
# privacy core's general limits: a live frame has no reason to be bigger.
STREAM_LIMITS = decode.DecodeLimits(
    max_bytes=4 * 1024 * 1024, max_width=1920, max_height=1920, max_pixels=1920 * 1080
)


def check_frame_header(data: bytes) -> tuple[int, int]:
    """Refuse a frame by its header alone: format by magic bytes, then its declared size.

    Cheap enough for the event loop (only the header is parsed); a decompression bomb (a
    2 KB file declaring 20000x20000) is refused here without allocating it. Raises
    ``UnsupportedFormat``, ``ImageTooLarge`` or ``CorruptImage``.
    """
    info = decode.probe_image(data, limits=STREAM_LIMITS)
    return info.width, info.height


def decode_frame(data: bytes) -> BgrImage:
    """Decode a frame (limits checked first; EXIF orientation applied; no metadata)."""
    return decode.decode_image(data, limits=STREAM_LIMITS)


def encode_jpeg(image: BgrImage, *, quality: int = 80, longest_side_px: int | None = None
                ) -> bytes:
    """Re-encode from pixels (no EXIF, ICC or comments survive), optionally scaled down."""
    if longest_side_px is not None:
        height, width = image.shape[:2]
        scale = longest_side_px / max(height, width)
        if scale < 1:
            image = cv2.resize(
                image, (max(1, round(width * scale)), max(1, round(height * scale))),
                interpolation=cv2.INTER_AREA,
            )
    return decode.encode_jpeg(image, quality=quality)


class _Detector:
    """Both detectors of the privacy core, merged (process-wide, loaded once)."""

    def detect(self, image: BgrImage) -> list[Face]:
        return shared_face_finder().detect(image)


def detector() -> _Detector:
    return _Detector()


@dataclass(frozen=True)
class AnonymizedFrame:
    image: BgrImage = field(repr=False)
    faces: tuple[Face, ...]
    width: int
    height: int
    whole_frame_blurred: bool
    # (frames since seen, box) of faces to keep hidden in the next frames, as JSON lists.
    recent: list[list[Any]] = field(default_factory=list)

    def jpeg(self, *, quality: int = 80, longest_side_px: int | None = None) -> bytes:
        return encode_jpeg(self.image, quality=quality, longest_side_px=longest_side_px)


def anonymize(image: BgrImage, *, policy: AnonymizationPolicy,
              recent: list[list[Any]] | None = None) -> AnonymizedFrame:
    """Find and hide every face; fail closed (whole frame blurred) if detection fails.

    ``recent`` is what the previous frame's result returned: faces seen in the last
    ``policy.persistence_frames`` frames stay hidden even when the detectors miss them now,
    so a one-frame miss never leaks a face.
    """
    height, width = image.shape[:2]
    try:
        faces = shared_face_finder().detect(image)
    except VisionError:
        return AnonymizedFrame(blur_whole_frame(image), (), width, height, True, recent or [])
    kept = [
        [age + 1, box] for age, box in (recent or []) if age + 1 <= policy.persistence_frames
    ]
    remembered = [Face(box=tuple(box), score=0.0) for _, box in kept]
    hidden = merge_faces([faces, remembered]) if remembered else faces
    if policy.blur_frame_when_no_face and not faces:
        output, whole = blur_whole_frame(image), True
    else:
        output, whole = anonymize_faces(image, list(hidden), policy), False
    kept.extend([0, list(face.box)] for face in faces)
    return AnonymizedFrame(output, tuple(faces), width, height, whole, kept)


def rule_engine(policy: RulePolicy, state: dict[str, Any]) -> RuleEngine:
    snapshot = state.get("engine")
    return RuleEngine.restore(policy, snapshot) if snapshot else RuleEngine(policy)


def rules_observe_frame(
    state: dict[str, Any], policy: RulePolicy, *, t_s: float, seq: int,
    image: BgrImage, faces: tuple[Face, ...],
) -> tuple[list[IncidentEvent], FrameObservation]:
    """Apply one analysed frame (the original pixels, never stored) to the rules whose
    snapshot is ``state["engine"]`` (updated in place); return the incident events and
    what was measured (faces, head pose, gaze: numbers only, for the review timeline).

    A frame older than the last one observed (a late resend) is ignored by the rules:
    time must not run backwards for their hysteresis; it is still stored as evidence.
    """
    engine = rule_engine(policy, state)
    observation = BehaviourAnalyzer(policy).analyze(image, faces, t_s=t_s, frame_id=seq)
    try:
        events = engine.observe(observation)
    except ObservationOutOfOrder:
        return [], observation
    state["engine"] = engine.snapshot()
    return events, observation


def person_count(observation: FrameObservation) -> int:
    """People in view: those the analysis confirmed, else every face it was given."""
    if observation.person_count is not None:
        return observation.person_count
    return len(observation.faces)


def rules_observe_voice(
    state: dict[str, Any], policy: RulePolicy, *, t_s: float, seq: int, is_speech: bool
) -> list[IncidentEvent]:
    """Apply one voice-activity report (measured in the page; no audio is ever sent)."""
    engine = rule_engine(policy, state)
    activity = VoiceActivity(
        chunk_id=seq, t_s=t_s, duration_s=1.0, speech_ratio=1.0 if is_speech else 0.0,
        is_speech=is_speech, is_multiple_voices_likely=False,
    )
    try:
        events = engine.observe_audio(activity)
    except ObservationOutOfOrder:
        return []
    state["engine"] = engine.snapshot()
    return events


def rules_finish(state: dict[str, Any], policy: RulePolicy) -> list[IncidentEvent]:
    """Close every open incident (the session ended)."""
    engine = rule_engine(policy, state)
    events = engine.finish()
    state["engine"] = engine.snapshot()
    return events
