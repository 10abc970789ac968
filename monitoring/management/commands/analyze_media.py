"""``manage.py analyze_media PATH... [--json] [--fps N]``: behaviour analysis of files.

For each image, one result; for each video, one result per analysed frame (``--fps`` per
second of video, default 2) with ``t`` in seconds. With ``--json`` each result is one JSON
object per line::

    {"file": ..., "t": 1.5, "width": 640, "height": 480,
     "faces": [{"box": [x1, y1, x2, y2], "score": 0.93}],
     "head_pose": {"yaw": 3.1, "pitch": -2.0, "roll": 0.4} | null,
     "gaze": {"x": 0.05, "y": 0.1} | null,
     "incidents": ["looking_away"]}

Faces come from the privacy core's detectors (``pipeline.FaceFinder``: short-range
BlazeFace and CenterFace, merged), fresh on every analysed frame. ``incidents`` are the
kinds open at that moment under the default exam policy; for a single
image the rules apply without minimum durations (``t`` is absent for images). Without
``--json``: a readable table, with a progress bar per video on stderr. A file that cannot
be read is reported on stderr and the run goes on; the command fails at the end if any did.
These names, flags and fields are a contract: scripts parse them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from django.core.management.base import BaseCommand, CommandError, CommandParser

from monitoring.vision.behaviour import BehaviourAnalyzer
from monitoring.vision.decode import DecodeLimits, decode_image
from monitoring.vision.errors import UnsupportedMedia, VisionError
from monitoring.vision.gaze import GazeEstimator
from monitoring.vision.landmarks import FaceLandmarker
from monitoring.vision.pipeline import FaceFinder
from monitoring.vision.rules import FrameObservation, RuleEngine, RulePolicy

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp"}
# Recorded media may be bigger than live webcam frames; still bounded against bombs (the
# same limits as anonymize_media).
OFFLINE_LIMITS = DecodeLimits(
    max_bytes=64 * 1024 * 1024, max_width=10_000, max_height=10_000, max_pixels=50_000_000
)
VIDEO_SUFFIXES = {".mp4", ".avi", ".webm", ".mkv", ".mov"}
_TABLE_HEADER = (
    f"{'file':<28} {'t':>7} {'size':>9} {'faces':>5} {'yaw':>6} {'pitch':>6} {'roll':>6} "
    f"{'gaze x':>6} {'gaze y':>6}  incidents"
)


class Command(BaseCommand):
    # A standalone tool on files: it touches no database, key ring or broker, so the
    # server's deployment checks (secret key, key ring) must not stop it.
    requires_system_checks: list[str] = []
    help = (
        "Analyse images and videos for proctoring incidents (faces, head pose, gaze, "
        "incident rules); prints a table or, with --json, one JSON object per line."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("paths", nargs="+", type=Path, metavar="PATH")
        parser.add_argument(
            "--json", action="store_true", help="One JSON object per analysed frame."
        )
        parser.add_argument(
            "--fps",
            type=float,
            default=2.0,
            help="Frames analysed per second of video (default 2).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        paths: list[Path] = options["paths"]
        as_json: bool = options["json"]
        fps: float = options["fps"]
        if not fps > 0:
            raise CommandError(f"--fps must be a positive number, got {fps}.")
        policy = RulePolicy()
        failures = 0
        if not as_json:
            self.stdout.write(_TABLE_HEADER)
        with (
            FaceFinder() as detector,
            FaceLandmarker() as landmarker,
            GazeEstimator() as gaze_estimator,
        ):
            tools = (detector, landmarker, gaze_estimator)
            for path in paths:
                try:
                    rows = self._analyze(path, policy, tools, fps, show_progress=not as_json)
                    for row in rows:
                        self.stdout.write(json.dumps(row) if as_json else _table_row(row))
                except (OSError, VisionError) as error:
                    failures += 1
                    self.stderr.write(f"{path}: {error}")
        if failures:
            raise CommandError(f"{failures} of {len(paths)} file(s) could not be analysed.")

    def _analyze(
        self,
        path: Path,
        policy: RulePolicy,
        tools: tuple[FaceFinder, FaceLandmarker, GazeEstimator],
        fps: float,
        *,
        show_progress: bool,
    ) -> Iterator[dict[str, Any]]:
        detector, landmarker, gaze_estimator = tools
        suffix = path.suffix.lower()
        if suffix in IMAGE_SUFFIXES:
            image = _read_image(path)
            single = policy.without_durations()
            analyzer = BehaviourAnalyzer(
                single, landmarker=landmarker, gaze_estimator=gaze_estimator
            )
            engine = RuleEngine(single)
            observation = analyzer.analyze(image, detector.detect(image), t_s=0.0, frame_id=0)
            engine.observe(observation)
            yield _row(path, image, observation, engine, t_s=None)
        elif suffix in VIDEO_SUFFIXES:
            analyzer = BehaviourAnalyzer(
                policy, landmarker=landmarker, gaze_estimator=gaze_estimator
            )
            engine = RuleEngine(policy)
            for frame_id, t_s, frame in _sample_video(path, fps, show_progress=show_progress):
                observation = analyzer.analyze(
                    frame, detector.detect(frame), t_s=t_s, frame_id=frame_id
                )
                engine.observe(observation)
                yield _row(path, frame, observation, engine, t_s=t_s)
        else:
            raise UnsupportedMedia(
                f"Unsupported file type {suffix or '(none)'!r}; images: "
                f"{', '.join(sorted(IMAGE_SUFFIXES))}; videos: "
                f"{', '.join(sorted(VIDEO_SUFFIXES))}."
            )


def _read_image(path: Path) -> np.ndarray:
    """Decode through the privacy core's safe decoder (format by magic bytes, size limits,
    EXIF orientation applied)."""
    return decode_image(path.read_bytes(), limits=OFFLINE_LIMITS)


def _sample_video(
    path: Path, fps: float, *, show_progress: bool
) -> Iterator[tuple[int, float, np.ndarray]]:
    """``(frame index, seconds, BGR frame)`` for ``fps`` frames per second of video."""
    from tqdm import tqdm

    if not path.is_file():
        raise UnsupportedMedia(f"{path} does not exist.")
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise UnsupportedMedia(f"OpenCV cannot open {path} as a video.")
    try:
        video_fps = capture.get(cv2.CAP_PROP_FPS) or 0.0
        if not video_fps > 0:
            raise UnsupportedMedia(f"{path} declares no frame rate; re-encode it.")
        frame_count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        duration_s = frame_count / video_fps
        progress = tqdm(
            total=int(duration_s * fps) + 1 if frame_count else None,
            desc=path.name,
            unit="frame",
            disable=not show_progress,
            leave=False,
        )
        next_t = 0.0
        index = 0
        with progress:
            while capture.grab():
                t_s = index / video_fps
                # Half a frame of slack so 10 frames/s sampled at 2/s lands on 0.0, 0.5 ...
                if t_s + 0.5 / video_fps >= next_t:
                    ok, frame = capture.retrieve()
                    if ok and frame is not None:
                        yield index, round(t_s, 3), frame
                        progress.update(1)
                    while next_t <= t_s + 0.5 / video_fps:
                        next_t += 1.0 / fps
                index += 1
        if index == 0:
            raise UnsupportedMedia(f"{path} holds no decodable video frame.")
    finally:
        capture.release()


def _row(
    path: Path,
    image: np.ndarray,
    observation: FrameObservation,
    engine: RuleEngine,
    *,
    t_s: float | None,
) -> dict[str, Any]:
    height, width = image.shape[:2]
    row: dict[str, Any] = {"file": str(path)}
    if t_s is not None:
        row["t"] = t_s
    pose, gaze = observation.pose, observation.gaze
    row.update(
        width=width,
        height=height,
        faces=[
            {"box": list(face.box), "score": round(face.score, 3)} for face in observation.faces
        ],
        head_pose=(
            {
                "yaw": round(pose.yaw_deg, 1),
                "pitch": round(pose.pitch_deg, 1),
                "roll": round(pose.roll_deg, 1),
            }
            if pose is not None
            else None
        ),
        gaze={"x": round(gaze.x, 3), "y": round(gaze.y, 3)} if gaze is not None else None,
        incidents=sorted(engine.open_kinds),
    )
    return row


def _table_row(row: dict[str, Any]) -> str:
    pose = row["head_pose"] or {}
    gaze = row["gaze"] or {}

    def number(value: float | None) -> str:
        return "-" if value is None else f"{value:.1f}" if abs(value) >= 2 else f"{value:.2f}"

    name = Path(row["file"]).name
    t = f"{row['t']:.1f}" if "t" in row else "-"
    return (
        f"{name[-28:]:<28} {t:>7} {row['width']:>4}x{row['height']:<4} {len(row['faces']):>5} "
        f"{number(pose.get('yaw')):>6} {number(pose.get('pitch')):>6} "
        f"{number(pose.get('roll')):>6} {number(gaze.get('x')):>6} {number(gaze.get('y')):>6}"
        f"  {', '.join(row['incidents']) or '-'}"
    )
