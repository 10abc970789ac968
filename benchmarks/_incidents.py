"""Incident quality: per-second recall and precision of each incident kind.

``print_incident_quality()`` is called by ``benchmarks/quality.py``; run alone with
``.venv/bin/python benchmarks/_incidents.py``. The labelled set is built by
``tests/build_clips.py`` (clips of a face present, absent, doubled, turned, in the dark,
frozen, flickering; and a synthesised audio track with a voice, a fan, a conversation and a
single word). Each clip runs through the live path (JPEG q80, privacy core on every frame,
behaviour analysis on 2 of the clip's 10 frames/s, rules under the default ``RulePolicy``),
and every second of the clip counts as flagged for a kind when a finished incident of that
kind covers at least half of it. Incidents are back-dated to the start of their run, so a
detector that is right from the first frame can reach full recall despite minimum
durations.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from monitoring.vision.audio import SAMPLE_RATE_HZ, VoiceActivityDetector  # noqa: E402
from monitoring.vision.behaviour import BehaviourAnalyzer  # noqa: E402
from monitoring.vision.gaze import GazeEstimator  # noqa: E402
from monitoring.vision.landmarks import FaceLandmarker  # noqa: E402
from monitoring.vision.rules import CHECKS, IncidentEvent, RuleEngine, RulePolicy  # noqa: E402

ANALYSED_FPS = 2.0

Intervals = dict[str, list[tuple[float, float]]]


def _intervals(events: list[IncidentEvent], hold_s: float) -> Intervals:
    """Finished incidents as ``[started_at, ended_at + hold_s)`` per kind; ``hold_s`` is
    the sampling period (the last flagged frame stands for the period after it)."""
    result: Intervals = defaultdict(list)
    for event in events:
        if event.action == "close" and event.ended_at is not None:
            result[event.kind].append((event.started_at, event.ended_at + hold_s))
    return result


def _flagged_seconds(intervals: Intervals, kind: str, seconds: int) -> list[bool]:
    flagged = []
    for second in range(seconds):
        covered = sum(
            max(0.0, min(end, second + 1) - max(start, second))
            for start, end in intervals.get(kind, [])
        )
        flagged.append(covered >= 0.5)
    return flagged


def _run_clip(path: Path, fps: float, tools: tuple[FaceLandmarker, GazeEstimator]) -> Intervals:
    from benchmarks._analysis import privacy_core

    _, core = privacy_core()
    policy = RulePolicy()
    landmarker, gaze_estimator = tools
    analyzer = BehaviourAnalyzer(policy, landmarker=landmarker, gaze_estimator=gaze_estimator)
    engine = RuleEngine(policy)
    events: list[IncidentEvent] = []
    capture = cv2.VideoCapture(str(path))
    step = max(1, round(fps / ANALYSED_FPS))
    index = 0
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        # The privacy core sees every frame, as on the live stream (its tracking and its
        # wide detector's cadence count frames); the analysis takes ANALYSED_FPS of them.
        _, data = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 80])
        decoded, faces, _ = core(data.tobytes())
        if index % step == 0:
            observation = analyzer.analyze(decoded, faces, t_s=index / fps, frame_id=index)
            events += engine.observe(observation)
        index += 1
    capture.release()
    events += engine.finish()
    return _intervals(events, hold_s=step / fps)


def _run_speech() -> tuple[Intervals, list[list[str]]]:
    from tests.build_clips import speech_track

    samples, labels = speech_track()
    detector = VoiceActivityDetector()
    engine = RuleEngine(RulePolicy())
    events: list[IncidentEvent] = []
    for chunk_id, start in enumerate(range(0, len(samples), SAMPLE_RATE_HZ)):
        activity = detector.analyse(
            samples[start : start + SAMPLE_RATE_HZ], t_s=start / SAMPLE_RATE_HZ, chunk_id=chunk_id
        )
        events += engine.observe_audio(activity)
    events += engine.finish()
    return _intervals(events, hold_s=1.0), labels


def incident_quality() -> dict[str, dict[str, int]]:
    """Per kind: true positive, false positive, false negative and labelled seconds."""
    from tests.build_clips import CLIPS_DIR, build

    build()
    counts: dict[str, dict[str, int]] = {
        kind: {"tp": 0, "fp": 0, "fn": 0, "labelled": 0} for kind in sorted(CHECKS)
    }

    def score(intervals: Intervals, labels: list[list[str]], kinds: frozenset[str]) -> None:
        for kind in kinds:
            flagged = _flagged_seconds(intervals, kind, len(labels))
            for is_flagged, expected in zip(flagged, labels, strict=True):
                is_expected = kind in expected
                counts[kind]["labelled"] += is_expected
                counts[kind]["tp"] += is_flagged and is_expected
                counts[kind]["fp"] += is_flagged and not is_expected
                counts[kind]["fn"] += is_expected and not is_flagged

    video_kinds = CHECKS - {"speech"}
    with FaceLandmarker() as landmarker, GazeEstimator() as gaze_estimator:
        for meta_path in sorted(CLIPS_DIR.glob("*.json")):
            meta = json.loads(meta_path.read_text())
            intervals = _run_clip(
                meta_path.with_suffix(".avi"), meta["fps"], (landmarker, gaze_estimator)
            )
            score(intervals, meta["labels"], video_kinds)
    intervals, labels = _run_speech()
    score(intervals, labels, frozenset({"speech"}))
    return counts


def print_incident_quality() -> None:
    """Print the per-second recall and precision table of every incident kind."""
    counts = incident_quality()
    print(
        "\nIncidents, per second of the labelled clips "
        f"(default RulePolicy, analysis at {ANALYSED_FPS:g} frames/s)"
    )
    print(f"{'kind':<16} {'labelled s':>10} {'flagged s':>9} {'recall':>7} {'precision':>9}")
    for kind, c in counts.items():
        flagged = c["tp"] + c["fp"]
        recall = f"{c['tp'] / c['labelled']:.2f}" if c["labelled"] else "-"
        precision = f"{c['tp'] / flagged:.2f}" if flagged else "-"
        print(f"{kind:<16} {c['labelled']:>10} {flagged:>9} {recall:>7} {precision:>9}")


if __name__ == "__main__":
    cv2.setNumThreads(1)
    np.seterr(all="ignore")
    print_incident_quality()
