"""The incident rules engine, driven frame by frame as a session would drive it."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from monitoring.vision.detect import Face
from monitoring.vision.gaze import Gaze
from monitoring.vision.pose import HeadPose
from monitoring.vision.rules import (
    FrameObservation,
    FrameStats,
    IncidentEvent,
    ObservationOutOfOrder,
    RuleEngine,
    RuleError,
    RulePolicy,
    UnknownCheck,
    frame_change,
    frame_stats,
)
from tests.build_clips import astronaut_bgr

STUDENT = Face(box=(200, 100, 300, 220), score=0.95)
HELPER = Face(box=(450, 120, 520, 200), score=0.9)
FRONTAL = HeadPose(yaw_deg=2.0, pitch_deg=-3.0, roll_deg=1.0)
TURNED = HeadPose(yaw_deg=50.0, pitch_deg=0.0, roll_deg=0.0)
RNG = np.random.default_rng(0)


def live_stats() -> FrameStats:
    """Stats of a webcam-like frame: the portrait with fresh sensor noise."""
    noisy = astronaut_bgr().astype(np.float32) + RNG.normal(0, 2.5, astronaut_bgr().shape)
    return frame_stats(np.clip(noisy, 0, 255).astype(np.uint8))


LIVE = [live_stats() for _ in range(5)]
_live_cycle = itertools.cycle(LIVE)  # never the same frame twice in a row
BLACK = frame_stats(np.zeros((480, 640, 3), np.uint8))
FROZEN = live_stats()


def drive(
    engine: RuleEngine,
    seconds: float,
    *,
    start_s: float = 0.0,
    fps: float = 2.0,
    faces=(STUDENT,),
    pose=FRONTAL,
    gaze=None,
    stats=None,
    first_id: int = 0,
) -> list[IncidentEvent]:
    events = []
    for i in range(round(seconds * fps)):
        observation = FrameObservation(
            t_s=start_s + i / fps,
            frame_id=first_id + i,
            faces=tuple(faces),
            stats=stats if stats is not None else next(_live_cycle),
            pose=pose,
            gaze=gaze,
        )
        events.extend(engine.observe(observation))
    return events


def test_empty_seat_opens_no_face_back_dated_and_closes_at_last_empty_frame():
    engine = RuleEngine(RulePolicy(no_face_min_s=5.0, close_after_s=2.0))
    events = drive(engine, 10)
    events += drive(engine, 12, start_s=10, faces=(), first_id=100)
    events += drive(engine, 5, start_s=22, first_id=200)
    assert [(e.action, e.kind) for e in events] == [
        ("open", "no_face"),
        ("close", "no_face"),
    ]
    opened, closed = events
    assert opened.started_at == 10.0 and opened.ended_at is None
    assert opened.evidence_frame_ids == (100, 110)  # run start, and the frame it opened on
    assert opened.severity == "medium"
    assert closed.incident_id == opened.incident_id
    assert closed.ended_at == 21.5
    assert closed.score == 1.0


def test_absence_shorter_than_the_minimum_opens_nothing():
    engine = RuleEngine(RulePolicy(no_face_min_s=5.0))
    events = drive(engine, 4, faces=()) + drive(engine, 10, start_s=4)
    assert events == []


def test_one_frame_face_in_a_long_absence_does_not_split_the_incident():
    engine = RuleEngine(RulePolicy(no_face_min_s=3.0, close_after_s=2.0))
    events = drive(engine, 6, faces=())
    events += drive(engine, 0.5, start_s=6, first_id=50)  # the detector blinks once
    events += drive(engine, 6, start_s=6.5, faces=(), first_id=60)
    events += drive(engine, 4, start_s=12.5, first_id=90)
    assert [(e.action, e.kind) for e in events] == [("open", "no_face"), ("close", "no_face")]
    assert events[1].started_at == 0.0 and events[1].ended_at == 12.0
    assert events[1].score == pytest.approx(24 / 25, abs=0.001)


def test_second_person_opens_multiple_faces_as_high():
    engine = RuleEngine(RulePolicy(multiple_faces_min_s=3.0))
    events = drive(engine, 6, faces=(STUDENT, HELPER))
    assert [(e.action, e.kind, e.severity, e.started_at) for e in events] == [
        ("open", "multiple_faces", "high", 0.0)
    ]


def test_low_scored_second_face_does_not_count_as_a_person():
    engine = RuleEngine(RulePolicy(face_min_score=0.6, multiple_faces_min_s=1.0))
    poster = Face(box=(450, 120, 520, 200), score=0.4)
    assert drive(engine, 6, faces=(STUDENT, poster)) == []


@pytest.mark.parametrize(
    ("pose", "gaze"),
    [
        (HeadPose(yaw_deg=-50.0, pitch_deg=0.0, roll_deg=0.0), None),
        (HeadPose(yaw_deg=0.0, pitch_deg=-45.0, roll_deg=0.0), None),
        (FRONTAL, Gaze(x=0.8, y=0.0)),
        (None, Gaze(x=-0.8, y=0.0)),
    ],
)
def test_head_turned_or_eyes_aside_opens_looking_away(pose, gaze):
    engine = RuleEngine(RulePolicy(looking_away_min_s=5.0))
    events = drive(engine, 8, pose=pose, gaze=gaze)
    assert [(e.action, e.kind, e.started_at) for e in events] == [("open", "looking_away", 0)]


def test_reading_across_the_screen_is_not_looking_away():
    engine = RuleEngine(RulePolicy())
    reading = HeadPose(yaw_deg=25.0, pitch_deg=-20.0, roll_deg=5.0)
    assert drive(engine, 20, pose=reading, gaze=Gaze(x=0.3, y=-0.2)) == []


def test_black_frames_open_camera_blocked_and_hold_back_no_face():
    engine = RuleEngine(RulePolicy(camera_blocked_min_s=3.0, no_face_min_s=1.0))
    events = drive(engine, 10, faces=(), stats=BLACK)
    assert [(e.action, e.kind) for e in events] == [("open", "camera_blocked")]
    assert engine.open_kinds == {"camera_blocked"}


def test_hand_over_the_lens_is_blocked_but_a_dim_room_is_not():
    hand = np.full((480, 640, 3), (90, 110, 150), np.uint8)  # uniform skin tone
    hand = np.clip(hand + RNG.normal(0, 2.0, hand.shape), 0, 255).astype(np.uint8)
    dim = (astronaut_bgr() * 0.25).astype(np.uint8)  # lights low, face still visible
    policy = RulePolicy(camera_blocked_min_s=0.0)
    for image, expected in ((hand, {"camera_blocked"}), (dim, set())):
        engine = RuleEngine(policy)
        engine.observe(FrameObservation(0.0, 1, (STUDENT,), frame_stats(image), FRONTAL))
        assert engine.open_kinds == expected


def test_repeated_identical_frames_open_camera_frozen():
    engine = RuleEngine(RulePolicy(camera_frozen_min_s=5.0))
    drive(engine, 4)
    events = drive(engine, 8, start_s=4, stats=FROZEN, first_id=20)
    assert [(e.action, e.kind, e.severity) for e in events] == [("open", "camera_frozen", "high")]
    # The first repeated frame is the second frame of the stalled stream.
    assert events[0].started_at == 4.5


def test_live_sensor_noise_is_not_frozen():
    assert frame_change(LIVE[0], LIVE[1]) > RulePolicy().camera_frozen_max_change * 4
    assert frame_change(FROZEN, FROZEN) == 0.0


def test_accommodation_switches_a_rule_off():
    policy = RulePolicy(no_face_min_s=1.0).with_accommodations({"no_face"})
    engine = RuleEngine(policy)
    assert drive(engine, 10, faces=()) == []
    assert "no_face" not in policy.enabled_checks


def test_unknown_check_name_is_refused():
    with pytest.raises(UnknownCheck, match=r"Unknown check\(s\) \['phone'\]"):
        RulePolicy().with_accommodations({"phone"})
    with pytest.raises(UnknownCheck, match="the checks are"):
        RulePolicy(enabled_checks=frozenset({"no_face", "talking"}))


def test_negative_threshold_is_refused():
    with pytest.raises(RuleError, match=r"RulePolicy.no_face_min_s must be a number >= 0"):
        RulePolicy(no_face_min_s=-1)


def test_long_incident_escalates_once_with_an_extend_event():
    engine = RuleEngine(RulePolicy(no_face_min_s=5.0, escalate_after_s=30.0))
    events = drive(engine, 40, faces=())
    severities = [(e.action, e.severity) for e in events]
    assert severities[0] == ("open", "medium")
    assert ("extend", "high") in severities
    assert [s for a, s in severities if a == "extend"].count("high") == len(severities) - 1 - 2
    assert len(events[-1].evidence_frame_ids) == 5  # capped at max_evidence_frames


def test_single_image_policy_fires_on_the_one_frame():
    engine = RuleEngine(RulePolicy().without_durations())
    events = engine.observe(FrameObservation(0.0, 7, (STUDENT, HELPER), LIVE[0], TURNED))
    assert {e.kind for e in events} == {"multiple_faces", "looking_away"}
    assert all(e.evidence_frame_ids == (7,) for e in events)


def test_finish_closes_what_is_open():
    engine = RuleEngine(RulePolicy(no_face_min_s=1.0))
    drive(engine, 5, faces=())
    closed = engine.finish()
    assert [(e.action, e.kind, e.ended_at) for e in closed] == [("close", "no_face", 4.5)]
    assert engine.open_kinds == frozenset()


def test_frames_out_of_order_are_refused():
    engine = RuleEngine(RulePolicy())
    engine.observe(FrameObservation(5.0, 10, (STUDENT,), LIVE[0]))
    with pytest.raises(ObservationOutOfOrder, match=r"Frame 9 at t=4.000 s is older"):
        engine.observe(FrameObservation(4.0, 9, (STUDENT,), LIVE[1]))


def test_frame_stats_refuses_a_grey_image():
    with pytest.raises(RuleError, match="Expected a BGR uint8 image"):
        frame_stats(np.zeros((480, 640), np.uint8))


def test_snapshot_and_restore_continue_the_session_exactly():
    policy = RulePolicy(no_face_min_s=3.0)
    whole = RuleEngine(policy)
    events_whole = drive(whole, 2) + drive(whole, 6, start_s=2, faces=(), first_id=10)
    events_whole += drive(whole, 4, start_s=8, first_id=30)

    first = RuleEngine(policy)
    events = drive(first, 2) + drive(first, 2, start_s=2, faces=(), first_id=10)
    saved = json.loads(json.dumps(first.snapshot()))  # through a store such as Redis
    second = RuleEngine.restore(policy, saved)
    events += drive(second, 4, start_s=4, faces=(), first_id=14)
    events += drive(second, 4, start_s=8, first_id=30)
    assert [(e.action, e.incident_id, e.started_at, e.ended_at) for e in events] == [
        (e.action, e.incident_id, e.started_at, e.ended_at) for e in events_whole
    ]
    assert events[0].started_at == 2.0


def test_snapshot_holds_no_pixels_but_still_sees_a_frozen_feed():
    engine = RuleEngine(RulePolicy(camera_frozen_min_s=0.0))
    engine.observe(FrameObservation(0.0, 1, (STUDENT,), FROZEN, FRONTAL))
    saved = json.dumps(engine.snapshot())
    assert len(saved) < 2_000  # a 160x120 thumbnail alone would be 19 200 bytes
    restored = RuleEngine.restore(RulePolicy(camera_frozen_min_s=0.0), json.loads(saved))
    restored.observe(FrameObservation(0.5, 2, (STUDENT,), FROZEN, FRONTAL))
    assert restored.open_kinds == {"camera_frozen"}


def test_snapshot_of_another_version_is_refused():
    snapshot = RuleEngine(RulePolicy()).snapshot() | {"version": 99}
    with pytest.raises(RuleError, match="snapshot version 99 is not 1"):
        RuleEngine.restore(RulePolicy(), snapshot)


def test_gap_without_frames_ends_the_incident_at_its_last_sighting():
    engine = RuleEngine(RulePolicy(no_face_min_s=2.0, max_gap_s=10.0))
    events = drive(engine, 5, faces=())
    # The connection drops for a minute; the seat is still empty when it comes back.
    events += drive(engine, 5, start_s=65, faces=(), first_id=100)
    assert [(e.action, e.incident_id, e.started_at, e.ended_at) for e in events] == [
        ("open", 1, 0.0, None),
        ("close", 1, 0.0, 4.5),
        ("open", 2, 65.0, None),
    ]


def test_rule_switched_off_mid_session_closes_its_open_incident():
    policy = RulePolicy(no_face_min_s=1.0)
    engine = RuleEngine(policy)
    drive(engine, 4, faces=())
    resumed = RuleEngine.restore(policy.with_accommodations({"no_face"}), engine.snapshot())
    events = drive(resumed, 1, start_s=4, faces=())
    assert [(e.action, e.kind, e.ended_at) for e in events] == [("close", "no_face", 3.5)]
    assert resumed.open_kinds == frozenset()
