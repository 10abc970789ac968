"""Gaze: where the irises sit between the eye corners, from MediaPipe's iris model.

The vendored ``iris_landmark.tflite`` runs through LiteRT on one 64x64 crop per eye, cut
like MediaPipe's own iris graph does: centred between the eye corners of the face mesh,
2.3 times the corner gap wide, rotated so that the corners are level, the eye on the
image's right mirrored (the model is trained on the other eye). It returns 71 eye-contour
points and 5 iris points (centre first) in crop pixels.

The offsets are in the eye's own frame, as a share of half the corner gap, averaged over
both eyes: ``x`` > 0 when the irises sit towards the image's right corners (the same side
as a positive yaw in ``pose``), ``y`` > 0 when they sit above the corner line. About 4.4 ms
per eye on one core.
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from monitoring.vision.detect import MODELS_DIR
from monitoring.vision.errors import VisionError
from monitoring.vision.landmarks import (
    LEFT_EYE_INNER,
    LEFT_EYE_OUTER,
    RIGHT_EYE_INNER,
    RIGHT_EYE_OUTER,
    FaceLandmarks,
    _load_interpreter,
    crop_matrix,
)
from monitoring.vision.resources import ModelResource

BgrImage = npt.NDArray[np.uint8]

_INPUT_SIZE = 64
# MediaPipe's iris graph enlarges the corner-to-corner box by 2.3 so the lids and brow fit.
_EYE_ROI_SCALE = 2.3
# Eyes narrower than this in the frame carry no usable iris position.
MIN_EYE_WIDTH_PX = 8.0
# (image-left corner, image-right corner, mirrored) for each eye.
_EYES = (
    (RIGHT_EYE_OUTER, RIGHT_EYE_INNER, False),
    (LEFT_EYE_INNER, LEFT_EYE_OUTER, True),
)


class GazeError(VisionError):
    """The iris model could not be run on the given frame."""


@dataclass(frozen=True, slots=True)
class Gaze:
    """Iris offsets from the eye centres (see the module docstring for units and signs)."""

    x: float
    y: float


class GazeEstimator(ModelResource):
    """The iris model, created once per process and reused; a context manager."""

    def __init__(self, *, model_path: Path = MODELS_DIR / "iris_landmark.tflite") -> None:
        self._interpreter: object | None = _load_interpreter(model_path)
        details = self._interpreter.get_input_details()  # type: ignore[attr-defined]
        self._input_index = details[0]["index"]
        outputs = self._interpreter.get_output_details()  # type: ignore[attr-defined]
        by_size = {int(np.prod(o["shape"])): o["index"] for o in outputs}
        self._iris_index = by_size[15]
        self._lock = threading.Lock()

    def estimate(self, image_bgr: BgrImage, landmarks: FaceLandmarks) -> Gaze | None:
        """Gaze of the face whose mesh is ``landmarks``; ``None`` when the eyes are too small.

        Raises ``GazeError`` on an image that is not BGR uint8.
        """
        if image_bgr.dtype != np.uint8 or image_bgr.ndim != 3 or image_bgr.shape[2] != 3:
            raise GazeError(
                f"Expected a BGR uint8 image of shape (height, width, 3), got dtype "
                f"{image_bgr.dtype} and shape {image_bgr.shape}."
            )
        offsets = []
        for left_index, right_index, is_mirrored in _EYES:
            left = landmarks.points[left_index, :2]
            right = landmarks.points[right_index, :2]
            width = float(np.linalg.norm(right - left))
            if width < MIN_EYE_WIDTH_PX:
                continue
            offsets.append(self._eye_offset(image_bgr, left, right, width, is_mirrored))
        if not offsets:
            return None
        x, y = np.mean(offsets, axis=0)
        return Gaze(x=float(x), y=float(y))

    def _eye_offset(
        self,
        image_bgr: BgrImage,
        left: npt.NDArray[np.float64],
        right: npt.NDArray[np.float64],
        width: float,
        is_mirrored: bool,
    ) -> tuple[float, float]:
        if self._interpreter is None:
            raise GazeError("This GazeEstimator is closed; create a new one.")
        centre = (left + right) / 2.0
        angle = float(np.arctan2(right[1] - left[1], right[0] - left[0]))
        matrix = crop_matrix(
            (float(centre[0]), float(centre[1])), _EYE_ROI_SCALE * width, angle, _INPUT_SIZE
        )
        crop = cv2.warpAffine(
            image_bgr, matrix, (_INPUT_SIZE, _INPUT_SIZE), flags=cv2.INTER_LINEAR
        )
        if is_mirrored:
            crop = crop[:, ::-1]
        tensor = cv2.cvtColor(crop, cv2.COLOR_BGR2RGB).astype(np.float32)[None] / 255.0
        with self._lock:
            interpreter = self._interpreter
            interpreter.set_tensor(self._input_index, tensor)  # type: ignore[attr-defined]
            interpreter.invoke()  # type: ignore[attr-defined]
            iris = interpreter.get_tensor(self._iris_index)  # type: ignore[attr-defined]
        iris_x, iris_y = float(iris.ravel()[0]), float(iris.ravel()[1])
        half_width = _INPUT_SIZE / _EYE_ROI_SCALE / 2.0
        x = (iris_x - _INPUT_SIZE / 2.0) / half_width
        y = (_INPUT_SIZE / 2.0 - iris_y) / half_width
        return (-x if is_mirrored else x), y

    def close(self) -> None:
        self._interpreter = None


@functools.cache
def shared_gaze_estimator() -> GazeEstimator:
    """The process-wide ``GazeEstimator``: the model loads once per worker, not per frame."""
    return GazeEstimator()
