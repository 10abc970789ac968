"""Shared fixtures for the vision tests: the labelled quality set and one FaceFinder."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from monitoring.vision.pipeline import FaceFinder, shared_face_finder

TESTS = Path(__file__).resolve().parents[1]
QUALITY = TESTS / "data" / "cache" / "quality"
VIDEO = TESTS / "data" / "cache" / "video"


@pytest.fixture(scope="session")
def quality_set() -> list[dict]:
    """The labelled images (built by tests/build_media.py; built here if missing)."""
    if not (QUALITY / "manifest.json").exists():
        sys.path.insert(0, str(TESTS))
        import build_media

        build_media.main()
    return json.loads((QUALITY / "manifest.json").read_text())["images"]


@pytest.fixture(scope="session")
def load_quality_image(quality_set):
    by_name = {item["name"]: item for item in quality_set}

    def load(name: str) -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
        item = by_name[name]
        image = cv2.imread(str(QUALITY / item["file"]), cv2.IMREAD_COLOR)
        return image, [tuple(box) for box in item["faces"]]

    return load


@pytest.fixture(scope="session")
def finder() -> FaceFinder:
    return shared_face_finder()


def region_changed(before: np.ndarray, after: np.ndarray, box) -> float:
    """Mean absolute difference (0-255) inside a box."""
    x1, y1, x2, y2 = box
    return float(np.mean(np.abs(before[y1:y2, x1:x2].astype(np.int16)
                                - after[y1:y2, x1:x2].astype(np.int16))))


def inner(box) -> tuple[int, int, int, int]:
    """The box shrunk by 15% on each side: the face itself, without its outline."""
    x1, y1, x2, y2 = box
    dx, dy = (x2 - x1) * 0.15, (y2 - y1) * 0.15
    return (int(x1 + dx), int(y1 + dy), max(int(x2 - dx), int(x1 + dx) + 2),
            max(int(y2 - dy), int(y1 + dy) + 2))


def detail(image: np.ndarray, box) -> float:
    """Variance of the Laplacian at the scale of facial features (region resampled to
    32x32): high for eyes, nose and mouth, low once blurred. Same measure as
    benchmarks/_measure.py."""
    x1, y1, x2, y2 = box
    grey = cv2.cvtColor(np.ascontiguousarray(image[y1:y2, x1:x2]), cv2.COLOR_BGR2GRAY)
    grey = cv2.resize(grey, (32, 32), interpolation=cv2.INTER_AREA)
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


def is_anonymized(before: np.ndarray, after: np.ndarray, box) -> bool:
    """The face inside ``box`` lost its detail (at most 35% left, or only noise)."""
    face = inner(box)
    return detail(after, face) <= max(0.35 * detail(before, face), 2.0)
