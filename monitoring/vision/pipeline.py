"""The anonymization pipeline: detect faces, track them, hide them, fail closed.

Two detectors work together (measured in ``benchmarks/quality.py``):

- the MediaPipe Tasks short-range BlazeFace (about 2 ms of CPU a frame) catches
  webcam-distance faces, also turned ones; it runs on every frame, except, on a cadence,
  the frames where CenterFace runs;
- CenterFace at 288 px wide (about 10 ms through onnxruntime) catches what short-range
  misses (faces of about 40 px, background people, groups). On a stream it runs every
  ``wide_every_n_frames`` frames and at once whenever the picture changes (a scene cut, a
  person walking in, any 80x80 px patch that changed); in between, its last faces stay
  hidden.

Whatever goes wrong, the frame is never returned raw: a detector error blurs the whole
frame, and a face lost for a frame keeps its region hidden for
``policy.persistence_frames`` frames.
"""

from __future__ import annotations

import functools
import logging
import threading
from dataclasses import dataclass
from typing import Any, Literal

import cv2
import numpy as np
import numpy.typing as npt

from monitoring.vision.anonymize import (
    DEFAULT_POLICY,
    AnonymizationPolicy,
    anonymize_faces,
    blur_whole_frame,
)
from monitoring.vision.decode import DEFAULT_LIMITS, DecodeLimits, decode_image, encode_jpeg
from monitoring.vision.detect import CenterFaceDetector, Face, ShortRangeDetector, merge_faces
from monitoring.vision.errors import CorruptImage
from monitoring.vision.images import BgrImage, as_bgr
from monitoring.vision.tracking import FaceTracker, Track

logger = logging.getLogger(__name__)

WholeFrameReason = Literal["detector_error", "unanalysable_frame", "no_face_found"]

# When the wide detector does not run on every frame, it still runs at once when the
# picture changed since its last run: a mean absolute difference (0-255) between 64x48 grey
# thumbnails above SCENE_CHANGE_THRESHOLD (a scene cut), or above LOCAL_CHANGE_THRESHOLD in
# any 8x8 cell of the thumbnail (an 80x80 px patch of a 640x480 frame: someone walking in,
# a face turning up behind the student). Webcam noise stays under 3 in a cell. In a dark
# scene every difference shrinks with the contrast (a dark face entering a dark room moved
# a cell by 13), so the local threshold is 0.3 of the thumbnail's standard deviation,
# between 5 and 16 (bright scenes have a deviation of 45-70, dark ones 10-15).
SCENE_CHANGE_THRESHOLD = 8.0
LOCAL_CHANGE_THRESHOLD = 16.0
LOCAL_CHANGE_MIN = 5.0
LOCAL_CHANGE_PER_STD = 0.3
_THUMBNAIL_SIZE = (64, 48)
_CELL_PX = 8


@dataclass(frozen=True, slots=True)
class FrameResult:
    """One processed frame.

    ``faces`` are the regions hidden in ``image`` (fresh detections plus faces held by
    tracking). ``detected_faces`` are only the faces a detector found in this very frame
    (what behaviour analysis may count as people): CenterFace's faces held between its
    runs on a cadence, and faces held by tracking, are in ``faces`` alone.
    ``whole_frame_reason`` says why the whole frame was blurred, if it was.
    """

    image: BgrImage
    faces: tuple[Face, ...]
    is_whole_frame_blurred: bool
    whole_frame_reason: WholeFrameReason | None = None
    detected_faces: tuple[Face, ...] = ()
    in_view_faces: tuple[Face, ...] = ()


@dataclass(frozen=True, slots=True)
class AnonymizerSnapshot:
    """A ``FrameAnonymizer``'s state between frames, to carry a stream across processes.

    ``state`` holds JSON-ready numbers (face boxes, counters). ``thumbnail`` is the 64x48
    grey thumbnail of the frame the wide detector last ran on (the scene-change trigger
    compares against it), raw pixels: seal it before it is stored anywhere.
    """

    state: dict[str, Any]
    thumbnail: bytes = b""


_SNAPSHOT_VERSION = 1


def _face_to_json(face: Face) -> list[float]:
    return [*face.box, face.score]


def _face_from_json(values: list[float]) -> Face:
    x1, y1, x2, y2, score = values
    return Face(box=(int(x1), int(y1), int(x2), int(y2)), score=float(score))


class FaceFinder:
    """Both detectors, loaded once per process (see ``shared_face_finder``)."""

    def __init__(
        self,
        *,
        close_range: ShortRangeDetector | None = None,
        wide: CenterFaceDetector | None = None,
    ) -> None:
        self.close_range = close_range or ShortRangeDetector()
        self.wide = wide or CenterFaceDetector()

    def detect(self, image_bgr: BgrImage) -> list[Face]:
        """Every face both detectors find, duplicates merged."""
        return merge_faces([self.close_range.detect(image_bgr), self.wide.detect(image_bgr)])

    def close(self) -> None:
        self.close_range.close()
        self.wide.close()

    def __enter__(self) -> FaceFinder:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


@functools.cache
def shared_face_finder() -> FaceFinder:
    """The process-wide ``FaceFinder``: models load once per worker, not once per frame."""
    finder = FaceFinder()
    # MediaPipe's close() goes through a concurrent.futures executor, which refuses work
    # once the interpreter's thread-exit hooks have run, so plain atexit is too late (and
    # its __del__ then prints a traceback). Close in one of those hooks instead; they run
    # last-registered first, so ours runs before the executor shuts down.
    threading._register_atexit(finder.close)  # type: ignore[attr-defined]
    return finder


def _as_analysable(image: npt.NDArray[Any]) -> BgrImage | None:
    """Coerce grey, BGRA and 16-bit frames to BGR uint8; ``None`` if impossible."""
    if image.ndim not in (2, 3) or image.shape[0] == 0 or image.shape[1] == 0:
        return None
    if image.dtype == np.uint16:
        image = cv2.convertScaleAbs(image, alpha=255.0 / 65535.0)
    elif image.dtype != np.uint8:
        return None
    if image.ndim == 2:
        return as_bgr(cv2.cvtColor(image, cv2.COLOR_GRAY2BGR))
    channels = image.shape[2]
    if channels == 3:
        return as_bgr(np.ascontiguousarray(image))
    if channels == 4:
        return as_bgr(cv2.cvtColor(image, cv2.COLOR_BGRA2BGR))
    if channels == 1:
        return as_bgr(cv2.cvtColor(image, cv2.COLOR_GRAY2BGR))
    return None


class FrameAnonymizer:
    """Stateful, per stream (one exam session's webcam, one video file).

    Not thread-safe: give each stream its own instance; they may share a ``FaceFinder``.
    ``wide_every_n_frames=1`` runs both detectors on every frame (stills, slow live
    streams); larger values trade a few frames of latency on new small faces for speed,
    bounded by the scene-change trigger and by tracking.
    """

    def __init__(
        self,
        policy: AnonymizationPolicy = DEFAULT_POLICY,
        *,
        finder: FaceFinder | None = None,
        wide_every_n_frames: int = 1,
    ) -> None:
        if wide_every_n_frames < 1:
            raise ValueError(f"wide_every_n_frames must be 1 or more, got {wide_every_n_frames}.")
        self.policy = policy
        self.finder = finder or shared_face_finder()
        self.wide_every_n_frames = wide_every_n_frames
        # The wide detector's faces are held until it runs again, and tracking must hold
        # them at least that long.
        self._tracker = FaceTracker(
            persistence_frames=max(policy.persistence_frames, wide_every_n_frames - 1)
        )
        self._wide_faces: list[Face] = []
        self._frames_since_wide = wide_every_n_frames  # run it on the first frame
        self._wide_thumbnail: npt.NDArray[np.float32] | None = None
        self._wide_thumbnail_std = 0.0
        # How often the wide detector ran (benchmarks report it).
        self.wide_runs = 0

    def snapshot(self) -> AnonymizerSnapshot:
        """The state the next frame depends on (see ``restore``). Keypoints are dropped:
        only boxes matter for hiding faces."""
        thumbnail = self._wide_thumbnail
        return AnonymizerSnapshot(
            state={
                "version": _SNAPSHOT_VERSION,
                "tracks": [
                    [*_face_to_json(t.face), t.missed_frames] for t in self._tracker.tracks
                ],
                "wide_faces": [_face_to_json(face) for face in self._wide_faces],
                "frames_since_wide": self._frames_since_wide,
                "thumbnail_std": self._wide_thumbnail_std,
            },
            thumbnail=b"" if thumbnail is None else thumbnail.astype(np.uint8).tobytes(),
        )

    @classmethod
    def restore(
        cls,
        policy: AnonymizationPolicy,
        snapshot: AnonymizerSnapshot | None,
        *,
        finder: FaceFinder | None = None,
        wide_every_n_frames: int = 1,
    ) -> FrameAnonymizer:
        """An anonymizer continuing from ``snapshot`` (``None``, or a snapshot of another
        version or shape, starts afresh: the wide detector then runs on the next frame,
        which is the safe side)."""
        anonymizer = cls(policy, finder=finder, wide_every_n_frames=wide_every_n_frames)
        if snapshot is None or snapshot.state.get("version") != _SNAPSHOT_VERSION:
            return anonymizer
        try:
            state = snapshot.state
            anonymizer._tracker.restore([
                Track(face=_face_from_json(values[:5]), missed_frames=int(values[5]))
                for values in state["tracks"]
            ])
            anonymizer._wide_faces = [_face_from_json(v) for v in state["wide_faces"]]
            anonymizer._frames_since_wide = int(state["frames_since_wide"])
            width, height = _THUMBNAIL_SIZE
            if len(snapshot.thumbnail) == width * height:
                anonymizer._wide_thumbnail = (
                    np.frombuffer(snapshot.thumbnail, dtype=np.uint8)
                    .reshape(height, width)
                    .astype(np.float32)
                )
                anonymizer._wide_thumbnail_std = float(state["thumbnail_std"])
            else:
                anonymizer._frames_since_wide = wide_every_n_frames
        except (KeyError, TypeError, ValueError):
            logger.warning("Unreadable anonymizer snapshot; starting afresh.")
            return cls(policy, finder=finder, wide_every_n_frames=wide_every_n_frames)
        return anonymizer

    def _should_run_wide(self, thumbnail: npt.NDArray[np.float32]) -> bool:
        if self._frames_since_wide >= self.wide_every_n_frames - 1:
            return True
        if self._wide_thumbnail is None or self._wide_thumbnail.shape != thumbnail.shape:
            return True
        change = np.abs(thumbnail - self._wide_thumbnail)
        if float(change.mean()) > SCENE_CHANGE_THRESHOLD:
            return True
        rows, columns = change.shape[0] // _CELL_PX, change.shape[1] // _CELL_PX
        cells = change.reshape(rows, _CELL_PX, columns, _CELL_PX).mean(axis=(1, 3))
        threshold = min(
            LOCAL_CHANGE_THRESHOLD,
            max(LOCAL_CHANGE_MIN, LOCAL_CHANGE_PER_STD * self._wide_thumbnail_std),
        )
        return float(cells.max()) > threshold

    def _detect(self, image: BgrImage) -> tuple[list[Face], list[Face]]:
        """The faces in view (fresh detections and the wide detector's held faces), and
        of those the ones a detector found in this very frame."""
        small_grey = cv2.cvtColor(
            cv2.resize(image, _THUMBNAIL_SIZE, interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2GRAY
        )
        thumbnail = small_grey.astype(np.float32)
        if not self._should_run_wide(thumbnail):
            self._frames_since_wide += 1
            close = self.finder.close_range.detect(image)
            return merge_faces([close, self._wide_faces]), close
        self.wide_runs += 1
        self._wide_faces = self.finder.wide.detect(image)
        self._wide_thumbnail = thumbnail
        self._wide_thumbnail_std = float(thumbnail.std())
        self._frames_since_wide = 0
        if self.wide_every_n_frames == 1:
            # Stills and slow streams: both detectors on every frame, belt and braces.
            faces = merge_faces([self.finder.close_range.detect(image), self._wide_faces])
            return faces, faces
        # On a cadence, short range follows faces between CenterFace runs; on the frames
        # where CenterFace runs it adds nothing (quality set: CenterFace alone finds 76 of
        # 76 faces, close-ups and profiles included; short range finds 38), so skip it.
        return list(self._wide_faces), list(self._wide_faces)

    def process(self, image: npt.NDArray[Any]) -> FrameResult:
        """Anonymize one frame. Never returns an unanonymized frame; never raises on a
        detector failure (the whole frame is blurred instead).

        Raises ``CorruptImage`` only for an array with no pixels to return at all.
        """
        frame = _as_analysable(image)
        if frame is None:
            if image.ndim >= 2 and image.shape[0] > 0 and image.shape[1] > 0:
                grey = np.zeros(image.shape[:2], dtype=np.uint8)
                return FrameResult(
                    image=as_bgr(cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR)), faces=(),
                    is_whole_frame_blurred=True, whole_frame_reason="unanalysable_frame",
                )
            raise CorruptImage(
                f"Cannot anonymize an array of shape {image.shape} and dtype {image.dtype}; "
                "pass a decoded BGR image."
            )
        try:
            detections, fresh = self._detect(frame)
        except Exception:  # noqa: BLE001 - any detector failure must fail closed
            # Privacy fails closed: whatever broke, the frame leaves fully blurred.
            logger.exception("Face detection failed; blurring the whole frame.")
            self._tracker.reset()
            self._wide_thumbnail = None
            return FrameResult(
                image=blur_whole_frame(frame), faces=(), is_whole_frame_blurred=True,
                whole_frame_reason="detector_error",
            )
        faces = self._tracker.update(detections)
        if not faces and self.policy.blur_frame_when_no_face:
            return FrameResult(
                image=blur_whole_frame(frame), faces=(), is_whole_frame_blurred=True,
                whole_frame_reason="no_face_found",
            )
        return FrameResult(
            image=anonymize_faces(frame, faces, self.policy),
            faces=tuple(faces),
            is_whole_frame_blurred=False,
            detected_faces=tuple(fresh),
            in_view_faces=tuple(detections),
        )


def anonymize_image(
    image: npt.NDArray[Any],
    policy: AnonymizationPolicy = DEFAULT_POLICY,
    *,
    finder: FaceFinder | None = None,
) -> FrameResult:
    """Anonymize a single still with both detectors (no stream state)."""
    return FrameAnonymizer(policy, finder=finder).process(image)


def anonymize_jpeg(
    data: bytes,
    policy: AnonymizationPolicy = DEFAULT_POLICY,
    *,
    limits: DecodeLimits = DEFAULT_LIMITS,
    quality: int = 80,
    finder: FaceFinder | None = None,
) -> bytes:
    """Bytes in, anonymized metadata-free JPEG bytes out (the live stream's task).

    Raises ``UnsupportedFormat``, ``ImageTooLarge`` or ``CorruptImage`` for input that
    cannot be decoded: the caller drops that frame (fail closed by dropping).
    """
    result = anonymize_image(decode_image(data, limits=limits), policy, finder=finder)
    return encode_jpeg(result.image, quality=quality)
