"""Speed of the anonymization pipeline, per 640x480 frame on one core.

    taskset -c 0 .venv/bin/python benchmarks/pipeline.py [--frames N] [--no-deface]

Runs on tests/data/cache/video/quality_640x480.avi (the labelled quality set as a video,
built by tests/build_media.py). Prints the cost of each stage, then end-to-end frames/s of
JPEG bytes in -> anonymized JPEG bytes out with the anonymization recall measured on the
same frames, and deface 1.5.0 (from .venv-deface, one onnxruntime thread) on the same video
in the same run. Each table is one function in SECTIONS so later stages add their own.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import _measure as m
import cv2
import numpy as np

cv2.setNumThreads(1)

from monitoring.vision.anonymize import DEFAULT_POLICY, anonymize_faces  # noqa: E402
from monitoring.vision.decode import decode_image, encode_jpeg  # noqa: E402
from monitoring.vision.detect import merge_faces  # noqa: E402
from monitoring.vision.pipeline import FrameAnonymizer, shared_face_finder  # noqa: E402
from monitoring.vision.tracking import FaceTracker  # noqa: E402

# Cadences of the wide detector compared end to end (1 = every frame).
WIDE_CADENCES = (1, 2, 3, 5)


def _median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def _time_each(items: list, work: Callable) -> list[float]:
    """CPU seconds per item (this thread and MediaPipe's, i.e. the whole process)."""
    samples = []
    for item in items:
        started = time.process_time()
        work(item)
        samples.append(time.process_time() - started)
    return samples


class Context:
    def __init__(self, frame_limit: int | None, with_deface: bool) -> None:
        frames, labels = m.video_frames()
        if frame_limit:
            frames, labels = frames[:frame_limit], labels[:frame_limit]
        self.frames = frames
        self.labels = labels
        self.jpegs = [encode_jpeg(frame, quality=90) for frame in frames]
        self.with_deface = with_deface
        self.results: dict[str, float] = {}


def section_stages(ctx: Context) -> None:
    finder = shared_face_finder()
    decoded = [decode_image(data) for data in ctx.jpegs]
    finder.close_range.detect(decoded[0])  # warm up both models
    finder.wide.detect(decoded[0])
    close = [finder.close_range.detect(image) for image in decoded]
    wide = [finder.wide.detect(image) for image in decoded]
    merged = [merge_faces([a, b]) for a, b in zip(close, wide, strict=True)]
    tracker = FaceTracker(persistence_frames=DEFAULT_POLICY.persistence_frames)
    anonymized = [anonymize_faces(image, faces) for image, faces in zip(decoded, merged,
                                                                         strict=True)]
    stages = [
        ("decode JPEG (safe decode)", _time_each(ctx.jpegs, decode_image)),
        ("detect: short-range BlazeFace (Tasks)", _time_each(decoded, finder.close_range.detect)),
        (f"detect: CenterFace {finder.wide.input_width} px (onnxruntime)",
         _time_each(decoded, finder.wide.detect)),
        ("merge + IoU tracking", _time_each(
            list(zip(close, wide, strict=True)),
            lambda pair: tracker.update(merge_faces([pair[0], pair[1]])))),
        ("anonymize faces (blur, ellipse)", _time_each(
            list(zip(decoded, merged, strict=True)),
            lambda pair: anonymize_faces(pair[0], pair[1]))),
        ("encode JPEG q80", _time_each(anonymized, encode_jpeg)),
    ]
    faces = sum(len(f) for f in merged)
    print(f"Per-stage cost, median CPU ms per 640x480 frame ({len(decoded)} frames, "
          f"{faces / len(decoded):.1f} faces a frame, one core)")
    for name, samples in stages:
        print(f"  {name:42s} {_median_ms(samples):7.2f} ms   (mean {np.mean(samples) * 1000:.2f})")


def _recall(ctx: Context, outputs: list[np.ndarray]) -> tuple[int, int]:
    hits = total = 0
    for original, output, labels in zip(ctx.frames, outputs, ctx.labels, strict=False):
        for label in labels:
            total += 1
            hits += m.is_anonymized(original, output, label)
    return hits, total


def section_end_to_end(ctx: Context) -> None:
    finder = shared_face_finder()
    print("End to end: JPEG bytes -> safe decode -> detect -> track -> anonymize -> JPEG q80")
    print("  frames/s per core = frames / CPU seconds (robust to a shared machine); wall-clock")
    print("  frames/s beside it for reference")
    print(f"  {'configuration':44s} {'per core':>9s} {'wall':>9s}  anonymization recall")
    for cadence in WIDE_CADENCES:
        anonymizer = FrameAnonymizer(finder=finder, wide_every_n_frames=cadence)
        outputs = []
        started, cpu_started = time.perf_counter(), m.cpu_seconds()
        for data in ctx.jpegs:
            result = anonymizer.process(decode_image(data))
            encode_jpeg(result.image)
            outputs.append(result.image)
        wall_fps = len(ctx.jpegs) / (time.perf_counter() - started)
        fps = len(ctx.jpegs) / (m.cpu_seconds() - cpu_started)
        ctx.results[f"proctor_{cadence}"] = fps
        hits, total = _recall(ctx, outputs)
        ctx.results[f"proctor_{cadence}_recall"] = hits / max(total, 1)
        name = ("proctor, CenterFace every frame" if cadence == 1
                else f"proctor, CenterFace every {cadence} + on change")
        print(f"  {name:44s} {fps:9.1f} {wall_fps:9.1f}  {m.percent(hits, total)}"
              f"   CenterFace on {100 * anonymizer.wide_runs / len(ctx.jpegs):.0f}% of frames")
    if not ctx.with_deface:
        return
    if not m.DEFACE_PYTHON.exists():
        print("  deface: not installed (see benchmarks/README.md)")
        return
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "deface.mp4"
        completed = subprocess.run(
            ["taskset", "-c", "0", str(m.DEFACE_PYTHON), str(m.DEFACE_RUNNER), "video",
             str(m.VIDEO), str(out)],
            check=True, capture_output=True, text=True,
        )
        timing = json.loads(completed.stdout.strip().splitlines()[-1])
        capture = cv2.VideoCapture(str(out))
        outputs = []
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            outputs.append(frame)
        capture.release()
    frames_total = len(m.video_frames()[0])
    deface_fps = frames_total / timing["cpu_seconds"]
    deface_wall_fps = frames_total / timing["seconds"]
    # deface ran on the whole video; compare recall on the frames we processed.
    hits, total = _recall(ctx, outputs[: len(ctx.frames)])
    print(f"  {'deface 1.5.0 (onnxruntime, 1 thread, full res)':44s} {deface_fps:9.1f} "
          f"{deface_wall_fps:9.1f}  "
          f"{m.percent(hits, total)}")
    for cadence in WIDE_CADENCES:
        ratio = ctx.results[f"proctor_{cadence}"] / deface_fps
        print(f"  speed-up over deface, cadence {cadence}: {ratio:5.1f}x")


SECTIONS: list[Callable[[Context], None]] = [section_stages, section_end_to_end]


def section_behaviour(ctx: Context) -> None:
    """Behaviour analysis on top of the privacy core (``benchmarks/_analysis.py``)."""
    from _analysis import print_analysis_speed

    print_analysis_speed()


SECTIONS.append(section_behaviour)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=None, help="Use only the first N frames.")
    parser.add_argument("--no-deface", action="store_true", help="Skip the deface comparison.")
    args = parser.parse_args()
    cores = os.sched_getaffinity(0)
    if len(cores) != 1:
        print(f"warning: running on cores {sorted(cores)}; pin with `taskset -c 0` for "
              "per-core figures.")
    ctx = Context(args.frames, not args.no_deface)
    for section in SECTIONS:
        section(ctx)
        print()


if __name__ == "__main__":
    main()
