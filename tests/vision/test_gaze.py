"""Gaze from the iris model, on the astronaut with her irises moved inside still eyes."""

from __future__ import annotations

import numpy as np
import pytest

from monitoring.vision.gaze import Gaze, GazeError, GazeEstimator
from monitoring.vision.landmarks import FaceLandmarker
from tests.build_clips import astronaut_bgr, largest_face, shift_irises


@pytest.fixture(scope="module")
def tools():
    with FaceLandmarker() as landmarker, GazeEstimator() as estimator:
        yield landmarker, estimator


def gaze_of(tools, image) -> Gaze | None:
    landmarker, estimator = tools
    landmarks = landmarker.detect(image, largest_face(image))
    assert landmarks is not None
    return estimator.estimate(image, landmarks)


def test_portrait_looks_at_the_camera(tools):
    gaze = gaze_of(tools, astronaut_bgr())
    assert gaze is not None and abs(gaze.x) < 0.15 and abs(gaze.y) < 0.2


@pytest.mark.parametrize("shift_px", [-4, 4])
def test_irises_moved_sideways_move_gaze_x_with_the_same_sign(tools, shift_px):
    # The eyes are about 26 px wide here, so 4 px is about 0.3 of half an eye.
    before = gaze_of(tools, astronaut_bgr())
    after = gaze_of(tools, shift_irises(astronaut_bgr(), dx_px=shift_px))
    assert before is not None and after is not None
    assert np.sign(after.x - before.x) == np.sign(shift_px)
    assert 0.1 < abs(after.x - before.x) < 0.5
    assert abs(after.y - before.y) < 0.1


def test_irises_moved_up_raise_gaze_y(tools):
    before = gaze_of(tools, astronaut_bgr())
    after = gaze_of(tools, shift_irises(astronaut_bgr(), dx_px=0, dy_px=-3))
    assert before is not None and after is not None
    # Lids hide part of the move (measured +0.065 for 3 px); the sign is what matters.
    assert after.y - before.y > 0.04


def test_mirrored_portrait_mirrors_gaze_x(tools):
    shifted = shift_irises(astronaut_bgr(), dx_px=4)
    gaze = gaze_of(tools, shifted)
    mirrored = gaze_of(tools, np.ascontiguousarray(shifted[:, ::-1]))
    assert gaze is not None and mirrored is not None
    assert mirrored.x == pytest.approx(-gaze.x, abs=0.12)


def test_eyes_too_small_give_no_gaze(tools):
    landmarker, estimator = tools
    tiny = np.ascontiguousarray(astronaut_bgr()[::8, ::8])  # 64x64: eyes about 3 px wide
    landmarks = landmarker.detect(astronaut_bgr(), largest_face(astronaut_bgr()))
    assert landmarks is not None
    small = type(landmarks)(points=landmarks.points / 8, presence=1.0, face=landmarks.face)
    assert estimator.estimate(tiny, small) is None


def test_float_image_is_a_gaze_error(tools):
    landmarker, estimator = tools
    landmarks = landmarker.detect(astronaut_bgr(), largest_face(astronaut_bgr()))
    assert landmarks is not None
    with pytest.raises(GazeError, match="Expected a BGR uint8 image, got|dtype float32"):
        estimator.estimate(astronaut_bgr().astype(np.float32), landmarks)  # type: ignore[arg-type]
