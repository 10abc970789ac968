"""Every vendored model matches the sha256 that MODELS.md records for it."""

import hashlib
import re
from pathlib import Path

import pytest

MODELS = Path(__file__).resolve().parents[2] / "monitoring" / "vision" / "models"
ROW = re.compile(r"^\| `(?P<file>[^`]+)` \| `[^`]+` \| `(?P<sha256>[0-9a-f]{64})` \|$")


def listed_models() -> list[tuple[str, str]]:
    rows = [ROW.match(line) for line in (MODELS / "MODELS.md").read_text().splitlines()]
    return [(m["file"], m["sha256"]) for m in rows if m]


def test_models_md_lists_every_model_file():
    listed = {name for name, _ in listed_models()}
    on_disk = {p.name for p in MODELS.iterdir() if p.suffix in (".tflite", ".onnx", ".task")}
    assert listed == on_disk


@pytest.mark.parametrize(("name", "expected"), listed_models())
def test_vendored_model_matches_its_recorded_sha256(name, expected):
    digest = hashlib.sha256((MODELS / name).read_bytes()).hexdigest()
    assert digest == expected, f"{name} changed: sha256 {digest}, MODELS.md says {expected}"


def test_every_model_has_its_licence_beside_it():
    assert "Apache License" in (MODELS / "LICENSE-mediapipe").read_text()
    assert "MIT License" in (MODELS / "LICENSE-centerface").read_text()
