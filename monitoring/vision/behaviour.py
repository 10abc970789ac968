"""Behaviour analysis of one frame: the glue from the privacy core's faces to an observation.

``BehaviourAnalyzer.analyze`` takes a BGR frame and the faces the privacy core found in it,
measures the frame (``rules.frame_stats``), and, only when the policy needs it, runs the face
mesh, head pose and gaze on the primary (largest) face, and the face mesh on any further
face to confirm it is a person. It returns the ``FrameObservation``
that ``rules.RuleEngine.observe`` consumes.

"Only when the policy needs it": the pose and gaze serve ``looking_away`` alone, so they
are skipped when an accommodation switches that rule off, on frames that are dark or
uniform (nothing to measure), and, with ``pose_interval_s``, on frames closer together than
that (the last measurement is reused while the same face is in view; ``looking_away``
needs seconds, not every frame). The extra meshes that confirm a second person run only
when ``multiple_faces`` is on and the privacy core found more than one face.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from monitoring.vision.detect import Face
from monitoring.vision.gaze import Gaze, GazeEstimator, shared_gaze_estimator
from monitoring.vision.landmarks import FaceLandmarker, FaceLandmarks, shared_landmarker
from monitoring.vision.pose import HeadPose, estimate_head_pose
from monitoring.vision.rules import (
    LOOKING_AWAY,
    MULTIPLE_FACES,
    FrameObservation,
    RulePolicy,
    frame_stats,
)

# Below this width the mesh is too coarse for a pose (measured: a 23 px face still gives a
# plausible mesh, so the bar is set a little above).
MIN_FACE_WIDTH_PX = 24


def primary_face(faces: Sequence[Face], *, min_score: float = 0.0) -> Face | None:
    """The largest face scoring at least ``min_score``: the student at the webcam."""
    candidates = [f for f in faces if f.score >= min_score]
    return max(candidates, key=lambda f: f.width * f.height, default=None)


class BehaviourAnalyzer:
    """Per-session frame analysis (one per exam session or video; not thread-safe).

    The landmarker and gaze estimator default to the process-wide shared instances.
    """

    def __init__(
        self,
        policy: RulePolicy,
        *,
        landmarker: FaceLandmarker | None = None,
        gaze_estimator: GazeEstimator | None = None,
        pose_interval_s: float = 0.0,
    ) -> None:
        self.policy = policy
        self._landmarker = landmarker or shared_landmarker()
        self._gaze_estimator = gaze_estimator or shared_gaze_estimator()
        self.pose_interval_s = pose_interval_s
        self._last_measured_at: float | None = None
        self._last: tuple[Face, HeadPose | None, Gaze | None] | None = None

    def analyze(
        self,
        image_bgr: npt.NDArray[np.uint8],
        faces: Sequence[Face],
        *,
        t_s: float,
        frame_id: int,
    ) -> FrameObservation:
        """The observation for ``RuleEngine.observe``. Raises ``VisionError`` subclasses
        on a frame that is not BGR uint8."""
        stats = frame_stats(image_bgr)
        policy = self.policy
        pose: HeadPose | None = None
        gaze: Gaze | None = None
        person_count: int | None = None
        is_pose_unreadable = False
        sure = sorted(
            (f for f in faces if f.score >= policy.face_min_score),
            key=lambda f: f.width * f.height,
            reverse=True,
        )
        is_lit = (
            stats.mean_luma > policy.camera_blocked_max_luma
            and stats.luma_contrast > policy.camera_blocked_max_contrast
        )
        meshes: dict[int, FaceLandmarks | None] = {}

        def mesh(index: int) -> FaceLandmarks | None:
            if index not in meshes:
                face = sure[index]
                meshes[index] = (
                    self._landmarker.detect(image_bgr, face)
                    if face.width >= MIN_FACE_WIDTH_PX
                    else None
                )
            return meshes[index]

        if MULTIPLE_FACES in policy.enabled_checks:
            if len(sure) >= 2 and is_lit:
                # The privacy core errs towards finding faces (a missed face leaks), so a
                # poster, a pattern or a reflection can score as one; a second *person*
                # must also carry a face mesh. A student whose own face the mesh cannot
                # read (a full profile) still counts as one person.
                person_count = max(1, sum(mesh(i) is not None for i in range(len(sure))))
            else:
                person_count = len(sure)
        if LOOKING_AWAY in policy.enabled_checks and sure and is_lit:
            # The student is the largest face that carries a mesh (else the largest).
            primary = next((i for i in range(len(sure)) if meshes.get(i)), 0)
            face = sure[primary]
            is_due = (
                self._last_measured_at is None
                or t_s - self._last_measured_at >= self.pose_interval_s
                or self._last is None
                or _iou(self._last[0].box, face.box) < 0.5
            )
            if is_due:
                pose, gaze = self._measure(image_bgr, mesh(primary))
                self._last_measured_at = t_s
                self._last = (face, pose, gaze)
            elif self._last is not None:
                _, pose, gaze = self._last
            # A sure face, big enough and lit, that the mesh or the canonical face cannot
            # read is in practice a head turned into profile (measured: heads rendered at
            # 70-75 degrees of yaw), the most obvious way of looking away.
            is_pose_unreadable = pose is None and face.width >= MIN_FACE_WIDTH_PX
        return FrameObservation(
            t_s=t_s,
            frame_id=frame_id,
            faces=tuple(faces),
            stats=stats,
            pose=pose,
            gaze=gaze,
            person_count=person_count,
            is_pose_unreadable=is_pose_unreadable,
        )

    def _measure(
        self, image_bgr: npt.NDArray[np.uint8], landmarks: FaceLandmarks | None
    ) -> tuple[HeadPose | None, Gaze | None]:
        if landmarks is None:
            return None, None
        height, width = image_bgr.shape[:2]
        pose = estimate_head_pose(landmarks.points, frame_width=width, frame_height=height)
        if pose is None:
            # A mesh the canonical face cannot explain is not worth reading irises from.
            return None, None
        return pose, self._gaze_estimator.estimate(image_bgr, landmarks)


def _iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2, y2 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0, x2 - x1) * max(0, y2 - y1)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0
