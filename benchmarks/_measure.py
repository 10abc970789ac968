"""Shared helpers for the benchmarks: the labelled media and how "anonymized" is measured.

A face counts as anonymized when the detail (variance of the Laplacian) inside its
labelled box, shrunk by 15% on each side, falls to at most ``DETAIL_RATIO_MAX`` of the
original. The measure looks only at pixels, so it judges Proctor and deface alike,
whatever their shapes and margins.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CACHE = ROOT / "tests" / "data" / "cache"
QUALITY = CACHE / "quality"
VIDEO = CACHE / "video" / "quality_640x480.avi"
VIDEO_LABELS = CACHE / "video" / "quality_640x480.json"
DEFACE_PYTHON = ROOT / ".venv-deface" / "bin" / "python"
DEFACE_RUNNER = Path(__file__).resolve().parent / "_deface_runner.py"

# Untouched faces keep ~100% of their detail (~85% after a video codec); our blur keeps
# under 5%, deface's under 10%. 0.35 separates the two with a wide gap either side.
DETAIL_RATIO_MAX = 0.35
DETAIL_FLOOR = 2.0


def ensure_media() -> None:
    if not (QUALITY / "manifest.json").exists() or not VIDEO.exists():
        sys.path.insert(0, str(ROOT / "tests"))
        import build_media

        build_media.main()


def quality_items() -> list[dict]:
    ensure_media()
    return json.loads((QUALITY / "manifest.json").read_text())["images"]


def video_frames() -> tuple[list[np.ndarray], list[list[list[int]]]]:
    ensure_media()
    capture = cv2.VideoCapture(str(VIDEO))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    labels = [f["faces"] for f in json.loads(VIDEO_LABELS.read_text())["frames"]]
    return frames, labels[: len(frames)]


def _inner(box: list[int] | tuple[int, ...]) -> tuple[int, int, int, int]:
    x1, y1, x2, y2 = box
    dx, dy = (x2 - x1) * 0.15, (y2 - y1) * 0.15
    return int(x1 + dx), int(y1 + dy), max(int(x2 - dx), int(x1 + dx) + 2), \
        max(int(y2 - dy), int(y1 + dy) + 2)


def detail(image: np.ndarray, box: tuple[int, int, int, int]) -> float:
    """Laplacian variance at the scale of facial features: the region is first resampled
    to 32x32, so a 40 px and a 300 px face are judged alike."""
    x1, y1, x2, y2 = box
    grey = cv2.cvtColor(np.ascontiguousarray(image[y1:y2, x1:x2]), cv2.COLOR_BGR2GRAY)
    grey = cv2.resize(grey, (32, 32), interpolation=cv2.INTER_AREA)
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


def is_anonymized(original: np.ndarray, output: np.ndarray, box) -> bool:
    inner = _inner(box)
    before = detail(original, inner)
    if before < 1e-6:
        return True  # a flat region shows nothing to hide
    # The floor keeps sensor and codec noise on dark, low-contrast faces (detail 3-5 before,
    # about 1.5 once blurred) from deciding the verdict.
    return detail(output, inner) <= max(DETAIL_RATIO_MAX * before, DETAIL_FLOOR)


def iou(a, b) -> float:
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def is_detected(label, boxes, threshold: float = 0.3) -> bool:
    return any(iou(label, box) >= threshold for box in boxes)


def cpu_seconds() -> float:
    """CPU time of this process and its finished children, all threads: on a shared
    machine this, not wall time, is what one core spent."""
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def percent(hits: int, total: int) -> str:
    return f"{100 * hits / total:5.1f}% ({hits}/{total})" if total else "   n/a"
