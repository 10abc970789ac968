"""The labelled quality set is well formed: boxes inside their images, every category."""

import json
from pathlib import Path

import cv2

from .conftest import QUALITY

LABELS = Path(__file__).resolve().parents[1] / "data" / "quality_labels.json"


def test_committed_labels_cover_every_category_the_issue_asks_for(quality_set):
    categories = {item["category"] for item in quality_set}
    assert {"group", "group_small", "background", "profile", "dark", "no_face"} <= categories
    assert json.loads(LABELS.read_text())["sources"]


def test_every_label_lies_inside_its_image(quality_set):
    for item in quality_set:
        height, width = cv2.imread(str(QUALITY / item["file"])).shape[:2]
        for x1, y1, x2, y2 in item["faces"]:
            assert 0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height, item["name"]
            assert x2 - x1 >= 20, f"{item['name']}: faces under 20 px are not labelled"
