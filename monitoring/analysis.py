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
from monitoring.vision.anonymize import AnonymizationPolicy
from monitoring.vision.audio import VoiceActivity
from monitoring.vision.behaviour import BehaviourAnalyzer
from monitoring.vision.detect import Face
from monitoring.vision.pipeline import AnonymizerSnapshot, FrameAnonymizer, shared_face_finder
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
    "AnonymizerSnapshot", "anonymize", "anonymize_stream_frame", "check_frame_header",
    "decode_frame", "encode_jpeg", "frame_observe",
    "person_count", "rules_observe_frame", "rules_observe_voice",
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


# On a live stream CenterFace (the wide detector, ~10 ms of the ~20 ms a frame costs) runs
# on every third frame, and at once on any frame whose picture changed since its last run
# (a scene cut, or any 80x80 px patch: someone walking in); short-range BlazeFace runs on
# the others. Its faces stay hidden in between (see vision/pipeline.py).
LIVE_WIDE_EVERY_N_FRAMES = 3


@dataclass(frozen=True)
class AnonymizedFrame:
    image: BgrImage = field(repr=False)
    # The faces hidden in ``image`` (including faces held a few frames after a miss).
    faces: tuple[Face, ...]
    # The faces in view now, what behaviour analysis counts (no faces held after a miss).
    in_view_faces: tuple[Face, ...]
    width: int
    height: int
    whole_frame_blurred: bool
    # What the next frame of the stream starts from (its thumbnail must be sealed).
    snapshot: AnonymizerSnapshot | None = None

    def jpeg(self, *, quality: int = 80, longest_side_px: int | None = None) -> bytes:
        return encode_jpeg(self.image, quality=quality, longest_side_px=longest_side_px)


def _anonymized(image: BgrImage, anonymizer: FrameAnonymizer) -> AnonymizedFrame:
    height, width = image.shape[:2]
    result = anonymizer.process(image)
    return AnonymizedFrame(
        image=result.image, faces=result.faces, in_view_faces=result.in_view_faces,
        width=width, height=height, whole_frame_blurred=result.is_whole_frame_blurred,
        snapshot=anonymizer.snapshot(),
    )


def anonymize(image: BgrImage, *, policy: AnonymizationPolicy) -> AnonymizedFrame:
    """A single still (the camera check's preview): both detectors; fails closed (the
    whole frame blurred) if detection fails."""
    return _anonymized(image, FrameAnonymizer(policy, finder=shared_face_finder()))


def anonymize_stream_frame(
    image: BgrImage, *, policy: AnonymizationPolicy, snapshot: AnonymizerSnapshot | None
) -> AnonymizedFrame:
    """The next frame of a live stream, continuing from the previous frame's ``snapshot``
    (``None`` for the first): faces seen lately stay hidden even when the detectors miss
    them now, and the wide detector runs on its cadence. Fails closed like ``anonymize``.
    """
    anonymizer = FrameAnonymizer.restore(
        policy, snapshot, finder=shared_face_finder(),
        wide_every_n_frames=LIVE_WIDE_EVERY_N_FRAMES,
    )
    return _anonymized(image, anonymizer)


def rule_engine(policy: RulePolicy, state: dict[str, Any]) -> RuleEngine:
    snapshot = state.get("engine")
    return RuleEngine.restore(policy, snapshot) if snapshot else RuleEngine(policy)


def frame_observe(
    image: BgrImage, faces: tuple[Face, ...], policy: RulePolicy, *, t_s: float, seq: int
) -> FrameObservation:
    """Measure one frame (the original pixels, never stored): faces, head pose, gaze,
    brightness. Stateless, so it runs before the session's state is locked."""
    return BehaviourAnalyzer(policy).analyze(image, faces, t_s=t_s, frame_id=seq)


def rules_observe_frame(
    state: dict[str, Any], policy: RulePolicy, observation: FrameObservation
) -> list[IncidentEvent]:
    """Apply one measured frame to the rules whose snapshot is ``state["engine"]``
    (updated in place); return the incident events.

    A frame older than the last one observed (a late resend) is ignored by the rules:
    time must not run backwards for their hysteresis; it is still stored as evidence.
    """
    engine = rule_engine(policy, state)
    try:
        events = engine.observe(observation)
    except ObservationOutOfOrder:
        return []
    state["engine"] = engine.snapshot()
    return events


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

