"""Head pose: yaw, pitch and roll in degrees from a face mesh, by ``cv2.solvePnP``.

Sixteen rigid mesh points are matched to a canonical 3D face (below). The camera is a
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

# The canonical face, in camera-aligned axes (x to the image's right, y down, z away from
# the camera), nose tip at the origin, 100 units between the outer eye corners. Keys are
# mesh indices. Only rigid points are used (eye corners, brows, nose, cheeks, temples):
# the mouth, jaw and chin move when a student talks or smiles and would read as pitch.
# Derived from the mesh of a frontal portrait (scikit-image's public-domain ``astronaut``),
# levelled and made left-right symmetric; the generic six-point anthropometric model used by
# many webcam estimators (LearnOpenCV, 2016) read that portrait as 36 degrees of pitch
# because its proportions do not match this mesh's points.
_CANONICAL_FACE = {
    1: (0.0, 0.0, 0.0),  # nose tip
    6: (0.0, -40.3, 15.4),  # nose bridge
    168: (0.0, -49.1, 19.7),  # between the eyes
    10: (0.0, -96.1, 19.9),  # top of the forehead
    33: (-50.0, -46.4, 44.5),  # outer eye corner, image left
    263: (50.0, -46.4, 44.5),
    133: (-19.0, -43.8, 38.8),  # inner eye corner, image left
    362: (19.0, -43.8, 38.8),
    70: (-62.2, -61.0, 43.9),  # outer brow, image left
    300: (62.2, -61.0, 43.9),
    50: (-55.5, -15.4, 40.6),  # cheek, image left
    280: (55.5, -15.4, 40.6),
    98: (-21.2, -1.3, 26.9),  # nose wing, image left
    327: (21.2, -1.3, 26.9),
    234: (-74.2, -28.5, 104.9),  # temple by the ear, image left
    454: (74.2, -28.5, 104.9),
}
_MESH_INDICES = tuple(_CANONICAL_FACE)
_MODEL_POINTS = np.array([_CANONICAL_FACE[i] for i in _MESH_INDICES], dtype=np.float64)
_RIGHT_OUTER = _MESH_INDICES.index(33)
# A mesh that the canonical face cannot explain is not a face pose we can trust: measured
# RMS reprojection error, as a share of the outer eye-corner gap, is 0.016-0.033 on upright
# faces (frontal, rolled 40 degrees, cut in half by the frame edge, 23 px wide) and 0.089
# on a mesh read the wrong way up on an upside-down face.
_MAX_RESIDUAL_OF_EYE_GAP = 0.06
_LEFT_OUTER = _MESH_INDICES.index(263)


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

    Returns ``None`` when ``solvePnP`` finds no solution, the points are degenerate, or
    the canonical face does not fit them (a mesh read on something that is not an upright
    face).
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
    # Start from a frontal face at the distance its size implies: without a guess the
    # iterative solver sometimes lands on the mirror solution (roll near 180 degrees).
    model_eye_gap = _MODEL_POINTS[_MESH_INDICES.index(263), 0] * 2.0
    image_eye_gap = float(np.linalg.norm(image_points[_RIGHT_OUTER] - image_points[_LEFT_OUTER]))
    depth = focal * model_eye_gap / max(image_eye_gap, 1.0)
    nose_x, nose_y = image_points[_MESH_INDICES.index(1)]
    translation_guess = np.array(
        [
            [(nose_x - frame_width / 2.0) * depth / focal],
            [(nose_y - frame_height / 2.0) * depth / focal],
            [depth],
        ]
    )
    # ... turned in the image plane as the eye line is: from a level start the solver
    # cannot reach a face upside down or on its side.
    eye_line = image_points[_LEFT_OUTER] - image_points[_RIGHT_OUTER]
    in_plane = math.atan2(float(eye_line[1]), float(eye_line[0]))
    ok, rotation_vector, translation = cv2.solvePnP(
        _MODEL_POINTS,
        image_points,
        camera,
        np.zeros(4),
        rvec=np.array([[0.0], [0.0], [in_plane]]),
        tvec=translation_guess,
        useExtrinsicGuess=True,
        flags=cv2.SOLVEPNP_ITERATIVE,
    )
    if not ok or float(translation[2, 0]) <= 0.0:
        return None
    projected, _ = cv2.projectPoints(
        _MODEL_POINTS, rotation_vector, translation, camera, np.zeros(4)
    )
    residual = float(np.sqrt(((projected[:, 0] - image_points) ** 2).sum(axis=1).mean()))
    if residual > _MAX_RESIDUAL_OF_EYE_GAP * image_eye_gap:
        return None
    rotation, _ = cv2.Rodrigues(rotation_vector)
    # Measure against the line of sight, not the optical axis: a student near the top of
    # the frame who faces the camera looks down the optical axis by the angle the frame
    # subtends (15 degrees or so), and that is not looking away.
    rotation = _align_with_line_of_sight(translation.ravel().astype(np.float64)) @ rotation
    # Read the angles off where the face's own axes point in camera space, rather than
    # decomposing Euler angles: each angle then has one obvious meaning and sign.
    nose = rotation @ np.array([0.0, 0.0, -1.0])  # the direction the face looks
    across = rotation @ np.array([1.0, 0.0, 0.0])  # from the image-left eye to the right one
    yaw = math.degrees(math.atan2(nose[0], -nose[2]))
    pitch = math.degrees(math.atan2(-nose[1], math.hypot(nose[0], nose[2])))
    roll = math.degrees(math.atan2(-across[1], across[0]))
    return HeadPose(yaw_deg=yaw, pitch_deg=pitch, roll_deg=roll)


def _align_with_line_of_sight(translation: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """The rotation taking the camera-to-face direction onto the optical axis."""
    sight = translation / np.linalg.norm(translation)
    axis = np.cross(sight, np.array([0.0, 0.0, 1.0]))
    sine = float(np.linalg.norm(axis))
    if sine < 1e-9:
        return np.eye(3)
    angle = math.atan2(sine, float(sight[2]))
    rotation, _ = cv2.Rodrigues(axis / sine * angle)
    return np.asarray(rotation, dtype=np.float64)
