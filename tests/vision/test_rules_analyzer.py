"""BehaviourAnalyzer + RuleEngine on real pixels: what is measured, when, and what fires."""

from __future__ import annotations

import numpy as np
import pytest

from monitoring.vision.behaviour import BehaviourAnalyzer, primary_face
from monitoring.vision.detect import Face
from monitoring.vision.rules import RuleEngine, RulePolicy
from tests.build_clips import (
    FRAME_SIZE,
    _frames_present,
    _live,
    astronaut_bgr,
    largest_face,
    turn_face,
)

PORTRAIT_FACE = Face(box=(177, 82, 272, 177), score=0.92)


def test_portrait_observation_carries_faces_pose_gaze_and_stats():
    analyzer = BehaviourAnalyzer(RulePolicy())
    observation = analyzer.analyze(astronaut_bgr(), [PORTRAIT_FACE], t_s=1.5, frame_id=9)
    assert (observation.t_s, observation.frame_id, observation.faces) == (1.5, 9, (PORTRAIT_FACE,))
    assert observation.pose is not None and abs(observation.pose.yaw_deg) < 5
    assert observation.gaze is not None
    assert 60 < observation.stats.mean_luma < 200 and observation.stats.luma_contrast > 25


def test_waived_looking_away_skips_the_mesh():
    policy = RulePolicy().with_accommodations({"looking_away"})
    observation = BehaviourAnalyzer(policy).analyze(
        astronaut_bgr(), [PORTRAIT_FACE], t_s=0.0, frame_id=0
    )
    assert observation.pose is None and observation.gaze is None


def test_pose_interval_reuses_the_last_measurement_for_the_same_face():
    analyzer = BehaviourAnalyzer(RulePolicy(), pose_interval_s=1.0)
    turned = turn_face(astronaut_bgr(), yaw_deg=30)
    first = analyzer.analyze(astronaut_bgr(), [PORTRAIT_FACE], t_s=0.0, frame_id=0)
    # 0.5 s later the head has turned, but the frame is not due: the old pose stands.
    reused = analyzer.analyze(turned, [PORTRAIT_FACE], t_s=0.5, frame_id=1)
    due = analyzer.analyze(turned, [PORTRAIT_FACE], t_s=1.0, frame_id=2)
    assert first.pose is not None and due.pose is not None
    assert reused.pose == first.pose
    assert due.pose.yaw_deg > first.pose.yaw_deg + 15


def test_a_different_face_is_measured_at_once():
    analyzer = BehaviourAnalyzer(RulePolicy(), pose_interval_s=10.0)
    analyzer.analyze(astronaut_bgr(), [PORTRAIT_FACE], t_s=0.0, frame_id=0)
    mirrored = np.ascontiguousarray(astronaut_bgr()[:, ::-1])
    face = largest_face(mirrored)
    observation = analyzer.analyze(mirrored, [face], t_s=0.5, frame_id=1)
    assert observation.pose is not None and observation.faces == (face,)


def test_dark_frame_and_tiny_face_are_not_measured():
    analyzer = BehaviourAnalyzer(RulePolicy())
    dark = (astronaut_bgr() * 0.04).astype(np.uint8)
    assert analyzer.analyze(dark, [PORTRAIT_FACE], t_s=0.0, frame_id=0).pose is None
    tiny = Face(box=(10, 10, 30, 30), score=0.9)
    assert analyzer.analyze(astronaut_bgr(), [tiny], t_s=1.0, frame_id=1).pose is None


def test_primary_face_is_the_largest_sure_one():
    small = Face(box=(0, 0, 40, 40), score=0.99)
    large_unsure = Face(box=(0, 0, 200, 200), score=0.3)
    large = Face(box=(100, 100, 250, 260), score=0.8)
    assert primary_face([small, large_unsure, large], min_score=0.6) == large
    assert primary_face([large_unsure], min_score=0.6) is None


def run_frames(frames, faces_of, fps: float = 2.0) -> RuleEngine:
    engine = RuleEngine(RulePolicy())
    analyzer = BehaviourAnalyzer(engine.policy)
    for index, frame in enumerate(frames):
        engine.observe(analyzer.analyze(frame, faces_of(frame), t_s=index / fps, frame_id=index))
    return engine


def test_head_turned_for_six_seconds_opens_looking_away():
    turned = turn_face(astronaut_bgr(), yaw_deg=55)
    face = largest_face(turned)
    rng = np.random.default_rng(1)
    frames = [
        np.clip(turned + rng.normal(0, 2.5, turned.shape), 0, 255).astype(np.uint8)
        for _ in range(12)
    ]
    assert run_frames(frames, lambda _: [face]).open_kinds == {"looking_away"}


@pytest.mark.parametrize("is_frozen", [True, False])
def test_frozen_stream_opens_camera_frozen_but_a_live_one_does_not(is_frozen):
    still = _frames_present()
    rng = np.random.default_rng(2)
    live = [_live(still, rng, i) for i in range(14)]
    frames = [live[0]] * 14 if is_frozen else live
    face = largest_face(live[0])
    engine = run_frames(frames, lambda _: [face])
    assert engine.open_kinds == ({"camera_frozen"} if is_frozen else set())
    assert frames[0].shape[:2][::-1] == FRAME_SIZE


def test_head_turned_into_profile_has_no_pose_and_counts_as_looking_away():
    profile = turn_face(astronaut_bgr(), yaw_deg=-75)
    face = largest_face(profile)  # the privacy core still finds (and hides) it
    observation = BehaviourAnalyzer(RulePolicy()).analyze(profile, [face], t_s=0, frame_id=0)
    assert observation.pose is None and observation.is_pose_unreadable
    engine = RuleEngine(RulePolicy().without_durations())
    engine.observe(observation)
    assert engine.open_kinds == {"looking_away"}


def test_frontal_face_is_never_unreadable():
    frames = [_frames_present(), astronaut_bgr(), np.ascontiguousarray(astronaut_bgr()[:, 200:])]
    analyzer = BehaviourAnalyzer(RulePolicy())
    for index, frame in enumerate(frames):
        observation = analyzer.analyze(frame, [largest_face(frame)], t_s=index, frame_id=index)
        assert not observation.is_pose_unreadable and observation.pose is not None
