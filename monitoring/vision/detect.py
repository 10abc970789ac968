"""Face detection: find every face in a BGR frame and return small frozen ``Face`` values.

Detectors load vendored models (``models/``, see ``models/MODELS.md``) and are meant to be
created once per process and reused; each is also a context manager that releases its
native resources on exit.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Protocol

import cv2
import numpy as np
import numpy.typing as npt

from monitoring.vision.errors import DetectionFailed, ModelUnavailable

MODELS_DIR = Path(__file__).resolve().parent / "models"

BgrImage = npt.NDArray[np.uint8]


@dataclass(frozen=True, slots=True)
class Face:
    """One detected face.

    ``box`` is ``(x1, y1, x2, y2)`` in pixels of the analysed image, clipped to it
    (``x2``/``y2`` exclusive). ``keypoints`` are ``(x, y)`` pixel positions when the
    detector provides them (BlazeFace: right eye, left eye, nose tip, mouth, right ear,
    left ear, from the subject's point of view), else empty.
    """

    box: tuple[int, int, int, int]
    score: float
    keypoints: tuple[tuple[float, float], ...] = ()

    @property
    def width(self) -> int:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> int:
        return self.box[3] - self.box[1]


class FaceDetector(Protocol):
    """What every detector offers: ``detect`` on a BGR uint8 image."""

    def detect(self, image_bgr: BgrImage) -> list[Face]: ...


def _clip_box(
    x1: float, y1: float, x2: float, y2: float, width: int, height: int
) -> tuple[int, int, int, int] | None:
    """Round a float box to pixels inside the image; ``None`` when nothing is left."""
    ix1 = max(0, int(np.floor(x1)))
    iy1 = max(0, int(np.floor(y1)))
    ix2 = min(width, int(np.ceil(x2)))
    iy2 = min(height, int(np.ceil(y2)))
    if ix2 <= ix1 or iy2 <= iy1:
        return None
    return (ix1, iy1, ix2, iy2)


def _check_image(image_bgr: BgrImage) -> None:
    if image_bgr.dtype != np.uint8 or image_bgr.ndim != 3 or image_bgr.shape[2] != 3:
        raise DetectionFailed(
            f"Expected a BGR uint8 image of shape (height, width, 3), got dtype "
            f"{image_bgr.dtype} and shape {image_bgr.shape}; decode it with "
            "monitoring.vision.decode.decode_image first."
        )


class ShortRangeDetector:
    """MediaPipe Tasks ``FaceDetector`` with the short-range BlazeFace model.

    Good at webcam-distance faces (roughly 15% of the frame or larger), including turned
    heads; weak on small background faces (see ``FullRangeDetector``).
    """

    def __init__(
        self,
        *,
        min_score: float = 0.5,
        model_path: Path = MODELS_DIR / "face_detection_short_range.tflite",
    ) -> None:
        # Imported here so that modules which only need ``Face`` stay light.
        import mediapipe as mp
        from mediapipe.tasks.python import BaseOptions, vision

        if not model_path.is_file():
            raise ModelUnavailable(
                f"Face model {model_path} is missing; it is vendored in the repository "
                "(see monitoring/vision/models/MODELS.md), restore it from git."
            )
        options = vision.FaceDetectorOptions(
            base_options=BaseOptions(model_asset_path=str(model_path)),
            running_mode=vision.RunningMode.IMAGE,
            min_detection_confidence=min_score,
        )
        try:
            self._detector = vision.FaceDetector.create_from_options(options)
        except (RuntimeError, ValueError) as error:
            raise ModelUnavailable(
                f"Could not load face model {model_path}: {error}. Check the file against "
                "the sha256 in MODELS.md."
            ) from error
        self._mp = mp
        # The Tasks graph is not documented as re-entrant; serialise calls per instance.
        self._lock = threading.Lock()

    def detect(self, image_bgr: BgrImage) -> list[Face]:
        _check_image(image_bgr)
        height, width = image_bgr.shape[:2]
        rgb = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB)
        mp_image = self._mp.Image(image_format=self._mp.ImageFormat.SRGB, data=rgb)
        try:
            with self._lock:
                result = self._detector.detect(mp_image)
        except Exception as error:  # the native graph raises bare RuntimeErrors
            raise DetectionFailed(
                f"Short-range face detection failed on a {width}x{height} frame: {error}"
            ) from error
        faces = []
        for detection in result.detections:
            bb = detection.bounding_box
            box = _clip_box(
                bb.origin_x, bb.origin_y, bb.origin_x + bb.width, bb.origin_y + bb.height,
                width, height,
            )
            if box is None:
                continue
            score = float(detection.categories[0].score) if detection.categories else 0.0
            keypoints = tuple(
                (float(k.x) * width, float(k.y) * height) for k in detection.keypoints or ()
            )
            faces.append(Face(box=box, score=score, keypoints=keypoints))
        return faces

    def close(self) -> None:
        self._detector.close()

    def __enter__(self) -> ShortRangeDetector:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
