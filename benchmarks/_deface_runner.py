"""Run deface 1.5.0 on one core, from its own venv (.venv-deface); called by the benchmarks.

    .venv-deface/bin/python benchmarks/_deface_runner.py video IN.avi OUT.mp4
    .venv-deface/bin/python benchmarks/_deface_runner.py images MANIFEST.json OUT_DIR

onnxruntime spreads over every core and escapes taskset (VERIFIED.md), so its session is
forced to one thread here. Prints one JSON line with the results.
"""

import json
import resource
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import onnxruntime

_Session = onnxruntime.InferenceSession


def _one_thread_session(*args, **kwargs):
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    kwargs["sess_options"] = options
    return _Session(*args, **kwargs)


onnxruntime.InferenceSession = _one_thread_session
cv2.setNumThreads(1)

from deface.centerface import CenterFace  # noqa: E402
from deface.deface import anonymize_frame, video_detect  # noqa: E402

# deface's command-line defaults.
THRESHOLD, MASK_SCALE, REPLACE, ELLIPSE, MOSAIC = 0.2, 1.3, "blur", True, 20


def _cpu_seconds() -> float:
    """This process and its ffmpeg children (reader and writer), all threads."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> None:
    mode, source, target = sys.argv[1:4]
    centerface = CenterFace(in_shape=None, backend="onnxrt")
    if mode == "video":
        started, cpu_started = time.perf_counter(), _cpu_seconds()
        video_detect(source, target, centerface, THRESHOLD, False, False, False, REPLACE,
                     MASK_SCALE, ELLIPSE, False, {"codec": "libx264"}, None, False, MOSAIC)
        print(json.dumps({"seconds": time.perf_counter() - started,
                          "cpu_seconds": _cpu_seconds() - cpu_started,
                          "backend": centerface.backend}))
        return
    manifest = json.loads(Path(source).read_text())["images"]
    out_dir = Path(target)
    out_dir.mkdir(parents=True, exist_ok=True)
    boxes = {}
    for item in manifest:
        bgr = cv2.imread(str(Path(source).parent / item["file"]), cv2.IMREAD_COLOR)
        rgb = np.ascontiguousarray(bgr[:, :, ::-1])
        dets, _ = centerface(rgb, threshold=THRESHOLD)
        boxes[item["name"]] = [[float(v) for v in det[:4]] for det in dets]
        anonymize_frame(dets, rgb, MASK_SCALE, REPLACE, ELLIPSE, False, None, MOSAIC)
        cv2.imwrite(str(out_dir / item["file"]), rgb[:, :, ::-1])
    print(json.dumps({"boxes": boxes, "backend": centerface.backend}))


if __name__ == "__main__":
    main()
