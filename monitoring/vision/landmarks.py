"""Face landmarks: the 468-point face mesh of one face the privacy core already found.

We run the vendored legacy ``face_landmark.tflite`` through LiteRT on a crop built from the
privacy core's ``Face`` box, rather than through the MediaPipe Tasks ``FaceLandmarker``:
measured on this stack (mediapipe 0.10.31), a ``FaceLandmarker`` built from an in-memory
``.task`` zip of the short-range detector and this model loads and returns 478 points, but
the points are scattered over the head and every ``z`` is 0 (the Tasks graph expects the
newer model's tensors), while the same model run directly returns a correct mesh. Running it
directly also skips the Tasks graph's second face detector (we already have the box) and
costs about 1.2 ms per face instead of 4.7 ms on one core.

The crop follows MediaPipe's own face-landmark graph: a square 1.5 times the detection box,
rotated so that the eyes are level (from the detector's eye keypoints when present, else
from a first pass of the mesh), resized to 192x192 RGB in [0, 1]. When the model is unsure
of the face, the crop is tried upside down as well and the surer reading kept.
"""

from __future__ import annotations

import functools
import math
import threading
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from monitoring.vision.detect import MODELS_DIR, Face
from monitoring.vision.errors import ModelUnavailable, VisionError
from monitoring.vision.resources import ModelResource

BgrImage = npt.NDArray[np.uint8]
FloatArray = npt.NDArray[np.float64]

MESH_POINT_COUNT = 468
_INPUT_SIZE = 192
# MediaPipe's face_landmark graph enlarges the detection box by 1.5 so that the whole
# head (forehead to chin, ear to ear) is inside the crop.
_ROI_SCALE = 1.5
# Re-crop when a first pass finds the eyes tilted by more than this; the model is trained on
# level faces and its accuracy drops past about 15 degrees of roll.
_RECROP_ROLL_DEG = 10.0
# Face-presence logit below which the crop is also tried upside down. Measured on the
# astronaut: upright faces (frontal, turned 45 degrees, rolled 35, dim, 30 px wide) score
# 11.6-27.6 the right way up and -5.7-6.2 upside down; upside-down faces read the other way.
_SURE_LOGIT = 10.0

# Indices into the 468-point mesh (subject's right eye is on the image's left).
RIGHT_EYE_OUTER = 33
RIGHT_EYE_INNER = 133
LEFT_EYE_INNER = 362
LEFT_EYE_OUTER = 263
NOSE_TIP = 1
CHIN = 152
MOUTH_RIGHT = 61
MOUTH_LEFT = 291


class LandmarkError(VisionError):
    """The landmark model could not be run on the given frame or face."""


@dataclass(frozen=True, eq=False)
class FaceLandmarks:
    """The face mesh of one face.

    ``points`` is a ``(468, 3)`` float array: ``x``, ``y`` in pixels of the analysed frame
    and ``z`` (depth, smaller is nearer the camera) in the same pixel scale. ``presence`` is
    the model's probability that the crop holds a face.
    """

    points: FloatArray
    presence: float
    face: Face

    @property
    def eye_roll_deg(self) -> float:
        """In-image tilt of the line between the outer eye corners (counter-clockwise > 0)."""
        return _roll_deg(self.points[RIGHT_EYE_OUTER], self.points[LEFT_EYE_OUTER])


def _roll_deg(image_left: FloatArray, image_right: FloatArray) -> float:
    dx, dy = float(image_right[0] - image_left[0]), float(image_right[1] - image_left[1])
    # Image y points down, so a counter-clockwise tilt raises the right-hand point.
    return math.degrees(math.atan2(-dy, dx))


def _mesh_roi(points: FloatArray) -> tuple[tuple[float, float], float, float]:
    """Centre, side and angle of the crop MediaPipe would take from this mesh: the mesh's
    box in its own eye-level frame, squared and enlarged by the same 1.5."""
    eye_line = points[LEFT_EYE_OUTER, :2] - points[RIGHT_EYE_OUTER, :2]
    angle = math.atan2(float(eye_line[1]), float(eye_line[0]))
    cos, sin = math.cos(angle), math.sin(angle)
    level = points[:, :2] @ np.array([[cos, -sin], [sin, cos]])  # rotate by -angle
    low, high = level.min(axis=0), level.max(axis=0)
    mid = (low + high) / 2.0
    centre = (float(mid[0] * cos - mid[1] * sin), float(mid[0] * sin + mid[1] * cos))
    return centre, _ROI_SCALE * float(max(high - low)), angle


def _load_interpreter(model_path: Path) -> object:
    from ai_edge_litert.interpreter import Interpreter

    if not model_path.is_file():
        raise ModelUnavailable(
            f"Model {model_path} is missing; it is vendored in the repository "
            "(see monitoring/vision/models/MODELS.md), restore it from git."
        )
    try:
        # One thread: the pipeline is budgeted per core, and LiteRT's own pool would
        # compete with the other stages and with other workers.
        interpreter = Interpreter(model_path=str(model_path), num_threads=1)
        interpreter.allocate_tensors()
    except (RuntimeError, ValueError) as error:
        raise ModelUnavailable(
            f"Could not load model {model_path}: {error}. Check the file against the "
            "sha256 in MODELS.md."
        ) from error
    return interpreter


def crop_matrix(
    centre: tuple[float, float], side_px: float, angle_rad: float, size: int
) -> FloatArray:
    """The 2x3 affine matrix taking frame pixels to a ``size`` square crop.

    The crop is ``side_px`` wide around ``centre``, its x axis along ``angle_rad`` (image
    coordinates, y down) in the frame.
    """
    scale = size / side_px
    cos, sin = math.cos(angle_rad), math.sin(angle_rad)
    cx, cy = centre
    # crop = scale * R(-angle) @ (p - c) + size / 2
    return np.array(
        [
            [scale * cos, scale * sin, -scale * (cos * cx + sin * cy) + size / 2],
            [-scale * sin, scale * cos, -scale * (-sin * cx + cos * cy) + size / 2],
        ],
        dtype=np.float64,
    )


class FaceLandmarker(ModelResource):
    """The 468-point face mesh model, created once per process and reused.

    Use it as a context manager or call ``close()``. Calls are serialised per instance (a
    LiteRT interpreter is not re-entrant).
    """

    def __init__(
        self,
        *,
        min_presence: float = 0.5,
        model_path: Path = MODELS_DIR / "face_landmark.tflite",
    ) -> None:
        self._interpreter: object | None = _load_interpreter(model_path)
        details = self._interpreter.get_input_details()  # type: ignore[attr-defined]
        self._input_index = details[0]["index"]
        outputs = self._interpreter.get_output_details()  # type: ignore[attr-defined]
        by_size = {int(np.prod(o["shape"])): o["index"] for o in outputs}
        self._mesh_index = by_size[MESH_POINT_COUNT * 3]
        self._presence_index = by_size[1]
        self._min_presence = min_presence
        self._lock = threading.Lock()

    def detect(self, image_bgr: BgrImage, face: Face) -> FaceLandmarks | None:
        """The mesh of ``face`` in ``image_bgr``, or ``None`` when the crop holds no face.

        Raises ``LandmarkError`` on an image that is not BGR uint8.
        """
        if image_bgr.dtype != np.uint8 or image_bgr.ndim != 3 or image_bgr.shape[2] != 3:
            raise LandmarkError(
                f"Expected a BGR uint8 image of shape (height, width, 3), got dtype "
                f"{image_bgr.dtype} and shape {image_bgr.shape}."
            )
        x1, y1, x2, y2 = face.box
        if x2 <= x1 or y2 <= y1:
            return None
        centre = ((x1 + x2) / 2.0, (y1 + y2) / 2.0)
        side = _ROI_SCALE * max(x2 - x1, y2 - y1)
        angle = 0.0
        if len(face.keypoints) >= 2:
            # BlazeFace keypoints 0 and 1 are the subject's right and left eye.
            (rx, ry), (lx, ly) = face.keypoints[0], face.keypoints[1]
            angle = math.atan2(ly - ry, lx - rx)
        points, logit = self._run(image_bgr, centre, side, angle)
        if logit < _SURE_LOGIT:
            # Detectors trained on upright faces give upright eye keypoints for an
            # upside-down face too; the mesh model then still "finds" a face, less surely.
            flipped_points, flipped_logit = self._run(image_bgr, centre, side, angle + math.pi)
            if flipped_logit > logit:
                points, logit, angle = flipped_points, flipped_logit, angle + math.pi
        if logit >= 0.0:
            # Re-crop on the mesh itself when the first crop was off: a merged or padded
            # detector box, no keypoints, or keypoints of a face the detector misread.
            # MediaPipe's own tracking crops each frame from the previous frame's mesh.
            # Measured on the astronaut: a tight BlazeFace box is 4% off-centre and 8% small
            # against its mesh's crop, and needs no second pass.
            mesh_centre, mesh_side, mesh_angle = _mesh_roi(points)
            moved = math.dist(mesh_centre, centre) / side
            resized = mesh_side / side
            turned = abs(math.degrees(math.remainder(mesh_angle - angle, math.tau)))
            if moved > 0.05 or not 0.87 < resized < 1.15 or turned > _RECROP_ROLL_DEG:
                refined, refined_logit = self._run(image_bgr, mesh_centre, mesh_side, mesh_angle)
                if refined_logit >= 0.0:
                    points, logit = refined, refined_logit
        presence = 1.0 / (1.0 + math.exp(-logit))
        if presence < self._min_presence:
            return None
        return FaceLandmarks(points=points, presence=presence, face=face)

    def _run(
        self,
        image_bgr: BgrImage,
        centre: tuple[float, float],
        side: float,
        angle: float,
    ) -> tuple[FloatArray, float]:
        """The mesh in frame pixels and the model's face logit for one crop."""
        if self._interpreter is None:
            raise LandmarkError("This FaceLandmarker is closed; create a new one.")
        matrix = crop_matrix(centre, side, angle, _INPUT_SIZE)
        crop = cv2.warpAffine(
            image_bgr,
            matrix,
            (_INPUT_SIZE, _INPUT_SIZE),
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT,
        )
        tensor = cv2.cvtColor(crop, cv2.COLOR_BGR2RGB).astype(np.float32)[None] / 255.0
        with self._lock:
            interpreter = self._interpreter
            interpreter.set_tensor(self._input_index, tensor)  # type: ignore[attr-defined]
            interpreter.invoke()  # type: ignore[attr-defined]
            mesh = interpreter.get_tensor(self._mesh_index)  # type: ignore[attr-defined]
            flag = interpreter.get_tensor(self._presence_index)  # type: ignore[attr-defined]
        mesh = mesh.reshape(MESH_POINT_COUNT, 3).astype(np.float64)
        logit = float(np.clip(flag.ravel()[0], -50.0, 50.0))
        inverse = cv2.invertAffineTransform(matrix)
        points = np.empty_like(mesh)
        points[:, :2] = mesh[:, :2] @ inverse[:, :2].T + inverse[:, 2]
        points[:, 2] = mesh[:, 2] * side / _INPUT_SIZE
        return points, logit

    def close(self) -> None:
        self._interpreter = None


@functools.cache
def shared_landmarker() -> FaceLandmarker:
    """The process-wide ``FaceLandmarker``: the model loads once per worker, not per frame."""
    return FaceLandmarker()
