"""Head pose measured on real pixels: scikit-image's astronaut, rotated, turned, flipped."""

from __future__ import annotations

import math

import numpy as np
import pytest

from monitoring.vision.detect import ShortRangeDetector
from monitoring.vision.landmarks import FaceLandmarker
from monitoring.vision.pose import HeadPose, PoseError, estimate_head_pose
from tests.build_clips import (
    astronaut_bgr,
    largest_face,
    rotate_in_plane,
    turn_face,
)


@pytest.fixture(scope="module")
def landmarker():
    with FaceLandmarker() as landmarker:
        yield landmarker


def pose_of(landmarker: FaceLandmarker, image) -> HeadPose | None:
    landmarks = landmarker.detect(image, largest_face(image))
    assert landmarks is not None
    height, width = image.shape[:2]
    return estimate_head_pose(landmarks.points, frame_width=width, frame_height=height)


def test_frontal_portrait_reads_as_facing_the_camera(landmarker):
    pose = pose_of(landmarker, astronaut_bgr())
    assert pose is not None
    assert abs(pose.yaw_deg) < 5 and abs(pose.pitch_deg) < 5 and abs(pose.roll_deg) < 5


@pytest.mark.parametrize("angle_deg", [-30, -15, 15, 30])
def test_in_plane_rotation_reads_as_the_same_roll(landmarker, angle_deg):
    frontal = pose_of(landmarker, astronaut_bgr())
    rotated = pose_of(landmarker, rotate_in_plane(astronaut_bgr(), angle_deg))
    assert frontal is not None and rotated is not None
    assert rotated.roll_deg - frontal.roll_deg == pytest.approx(angle_deg, abs=3)
    assert abs(rotated.yaw_deg) < 6


@pytest.mark.parametrize("yaw_deg", [-30, 30])
def test_turned_head_reads_yaw_with_its_sign(landmarker, yaw_deg):
    pose = pose_of(landmarker, turn_face(astronaut_bgr(), yaw_deg=yaw_deg))
    assert pose is not None
    # The warp renders a 2.5D turn; the estimate comes out at 75-90% of it.
    assert np.sign(pose.yaw_deg) == np.sign(yaw_deg)
    assert 0.6 * abs(yaw_deg) < abs(pose.yaw_deg) < 1.3 * abs(yaw_deg)
    assert abs(pose.pitch_deg) < 8


def test_bigger_turn_reads_bigger_yaw(landmarker):
    small = pose_of(landmarker, turn_face(astronaut_bgr(), yaw_deg=15))
    large = pose_of(landmarker, turn_face(astronaut_bgr(), yaw_deg=30))
    assert small is not None and large is not None
    assert large.yaw_deg > small.yaw_deg + 6


def test_horizontal_flip_negates_yaw(landmarker):
    turned = turn_face(astronaut_bgr(), yaw_deg=30)
    pose = pose_of(landmarker, turned)
    mirrored = pose_of(landmarker, np.ascontiguousarray(turned[:, ::-1]))
    assert pose is not None and mirrored is not None
    assert mirrored.yaw_deg == pytest.approx(-pose.yaw_deg, abs=5)
    assert mirrored.roll_deg == pytest.approx(-pose.roll_deg, abs=5)


@pytest.mark.parametrize("pitch_deg", [-20, 20])
def test_nodding_reads_pitch_with_its_sign(landmarker, pitch_deg):
    pose = pose_of(landmarker, turn_face(astronaut_bgr(), pitch_deg=pitch_deg))
    assert pose is not None
    assert np.sign(pose.pitch_deg) == np.sign(pitch_deg)
    assert abs(pose.pitch_deg) > 0.4 * abs(pitch_deg)
    assert abs(pose.yaw_deg) < 5


def test_face_cut_by_the_frame_edge_gives_a_finite_pose(landmarker):
    half = np.ascontiguousarray(astronaut_bgr()[:, 200:])
    face = largest_face(half)
    assert face.box[0] == 0  # the detector sees the face running off the edge
    landmarks = landmarker.detect(half, face)
    assert landmarks is not None
    pose = estimate_head_pose(landmarks.points, frame_width=312, frame_height=512)
    assert pose is None or all(np.isfinite([pose.yaw_deg, pose.pitch_deg, pose.roll_deg]))


@pytest.mark.parametrize("flip", ["rotated_180", "mirrored_vertically"])
def test_upside_down_face_reads_roll_near_180(landmarker, flip):
    upright = pose_of(landmarker, astronaut_bgr())
    image = astronaut_bgr()[::-1, ::-1] if flip == "rotated_180" else astronaut_bgr()[::-1]
    image = np.ascontiguousarray(image)
    faces = ShortRangeDetector().detect(image)
    # The detector's eye keypoints read the face as upright; the landmarker turns the crop.
    (face,) = [f for f in faces if landmarker.detect(image, f) is not None]
    landmarks = landmarker.detect(image, face)
    assert landmarks is not None and upright is not None
    pose = estimate_head_pose(landmarks.points, frame_width=512, frame_height=512)
    assert pose is not None
    # Rotated: 180 degrees plus the portrait's own roll; mirrored: minus it.
    expected = 180 + (upright.roll_deg if flip == "rotated_180" else -upright.roll_deg)
    assert abs(math.remainder(pose.roll_deg - expected, 360)) < 15
    assert abs(pose.yaw_deg) < 10


def test_quarter_turned_camera_reads_as_roll(landmarker):
    sideways = np.ascontiguousarray(np.rot90(astronaut_bgr()))  # counter-clockwise
    pose = pose_of(landmarker, sideways)
    assert pose is not None
    assert pose.roll_deg == pytest.approx(90, abs=10)


def test_wrong_array_shape_is_a_pose_error():
    with pytest.raises(PoseError, match=r"Expected a \(468, 2\) or \(468, 3\) face mesh, got"):
        estimate_head_pose(np.zeros((68, 2)), frame_width=640, frame_height=480)


def test_degenerate_points_give_no_pose():
    assert estimate_head_pose(np.zeros((468, 3)), frame_width=640, frame_height=480) is None
