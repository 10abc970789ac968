"""Head pose: yaw, pitch and roll in degrees from a face mesh, by ``cv2.solvePnP``.

Six mesh points (nose tip, chin, outer eye corners, mouth corners) are matched to a
generic anthropometric 3D face, the model used by most webcam head-pose estimators
(Mallick, "Head Pose Estimation using OpenCV and Dlib", LearnOpenCV 2016). The camera is a
pinhole with the focal length equal to the image width and no distortion: webcams sit
near a 60 degree horizontal field of view, and a wrong focal length changes the angles
only a few degrees at webcam distances.

Signs, in the image as the reviewer sees it (not mirrored):

- ``yaw_deg`` > 0: the nose points towards the image's right (the subject turns to their
  left);
- ``pitch_deg`` > 0: the nose points up;
- ``roll_deg`` > 0: the head is tilted counter-clockwise in the image.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from monitoring.vision.errors import VisionError
from monitoring.vision.landmarks import (
    CHIN,
    LEFT_EYE_OUTER,
    MOUTH_LEFT,
    MOUTH_RIGHT,
    NOSE_TIP,
    RIGHT_EYE_OUTER,
)

# The generic face in camera-aligned axes (x to the image's right, y down, z away from the
# camera), nose tip at the origin, arbitrary units (about 0.1 mm). Rows match _MESH_INDICES.
_MODEL_POINTS = np.array(
    [
        (0.0, 0.0, 0.0),  # nose tip
        (0.0, 330.0, 65.0),  # chin
        (-225.0, -170.0, 135.0),  # outer corner of the eye on the image's left
        (225.0, -170.0, 135.0),  # outer corner of the eye on the image's right
        (-150.0, 150.0, 125.0),  # mouth corner on the image's left
        (150.0, 150.0, 125.0),  # mouth corner on the image's right
    ],
    dtype=np.float64,
)
_MESH_INDICES = (NOSE_TIP, CHIN, RIGHT_EYE_OUTER, LEFT_EYE_OUTER, MOUTH_RIGHT, MOUTH_LEFT)


class PoseError(VisionError):
    """Head pose cannot be computed from the given points."""


@dataclass(frozen=True, slots=True)
class HeadPose:
    """Head rotation relative to the camera, in degrees (signs in the module docstring)."""

    yaw_deg: float
    pitch_deg: float
    roll_deg: float


def estimate_head_pose(
    points_px: npt.NDArray[np.float64], *, frame_width: int, frame_height: int
) -> HeadPose | None:
    """Head pose from a ``(468, 2 or 3)`` face mesh in frame pixels.

    Returns ``None`` when ``solvePnP`` finds no solution or the points are degenerate.
    Raises ``PoseError`` when the array is not a 468-point mesh or the frame size is not
    positive.
    """
    if points_px.ndim != 2 or points_px.shape[0] != 468 or points_px.shape[1] not in (2, 3):
        raise PoseError(
            f"Expected a (468, 2) or (468, 3) face mesh, got shape {points_px.shape}; pass "
            "FaceLandmarks.points."
        )
    if frame_width <= 0 or frame_height <= 0:
        raise PoseError(f"Frame size must be positive, got {frame_width}x{frame_height}.")
    image_points = np.ascontiguousarray(points_px[list(_MESH_INDICES), :2], dtype=np.float64)
    if not np.isfinite(image_points).all() or np.ptp(image_points[:, 0]) < 1.0:
        return None
    focal = float(frame_width)
    camera = np.array(
        [[focal, 0.0, frame_width / 2.0], [0.0, focal, frame_height / 2.0], [0.0, 0.0, 1.0]]
    )
    ok, rotation_vector, _ = cv2.solvePnP(
        _MODEL_POINTS, image_points, camera, np.zeros(4), flags=cv2.SOLVEPNP_ITERATIVE
    )
    if not ok:
        return None
    rotation, _ = cv2.Rodrigues(rotation_vector)
    # Read the angles off where the face's own axes point in camera space, rather than
    # decomposing Euler angles: each angle then has one obvious meaning and sign.
    nose = rotation @ np.array([0.0, 0.0, -1.0])  # the direction the face looks
    across = rotation @ np.array([1.0, 0.0, 0.0])  # from the image-left eye to the right one
    yaw = math.degrees(math.atan2(nose[0], -nose[2]))
    pitch = math.degrees(math.atan2(-nose[1], math.hypot(nose[0], nose[2])))
    roll = math.degrees(math.atan2(-across[1], across[0]))
    return HeadPose(yaw_deg=yaw, pitch_deg=pitch, roll_deg=roll)
