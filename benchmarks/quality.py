"""Quality of face anonymization on the labelled set (tests/build_media.py builds it).

    .venv/bin/python benchmarks/quality.py

Prints, per category and overall: detection recall (a labelled face matched by a detected
box at IoU >= 0.3), anonymization recall (the labelled face's pixels lost their detail,
see _measure.py) and needless whole-frame blurs; beside the same for deface 1.5.0 when
.venv-deface exists. Each table is one function in SECTIONS, so later stages (landmarks,
pose, gaze) add their own section.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from collections import defaultdict
from pathlib import Path

import _measure as m
import cv2

cv2.setNumThreads(1)

from monitoring.vision.anonymize import AnonymizationPolicy  # noqa: E402
from monitoring.vision.pipeline import FrameAnonymizer, shared_face_finder  # noqa: E402


def _deface_images() -> tuple[dict[str, list], Path] | None:
    if not m.DEFACE_PYTHON.exists():
        return None
    out_dir = Path(tempfile.mkdtemp(prefix="deface-quality-"))
    completed = subprocess.run(
        [str(m.DEFACE_PYTHON), str(m.DEFACE_RUNNER), "images",
         str(m.QUALITY / "manifest.json"), str(out_dir)],
        check=True, capture_output=True, text=True,
    )
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    return result["boxes"], out_dir


def section_faces() -> None:
    items = m.quality_items()
    finder = shared_face_finder()
    deface = _deface_images()
    rows: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    whole_frame = {"default": 0, "no_face_policy_on_faces": 0}
    false_on_no_face = {"proctor": 0, "deface": 0}
    no_face_policy = AnonymizationPolicy(blur_frame_when_no_face=True)
    for item in items:
        image = cv2.imread(str(m.QUALITY / item["file"]), cv2.IMREAD_COLOR)
        close = [f.box for f in finder.close_range.detect(image)]
        wide = [f.box for f in finder.wide.detect(image)]
        result = FrameAnonymizer(finder=finder).process(image)
        strict = FrameAnonymizer(no_face_policy, finder=finder).process(image)
        whole_frame["default"] += result.is_whole_frame_blurred
        if item["faces"] and strict.is_whole_frame_blurred:
            whole_frame["no_face_policy_on_faces"] += 1
        if not item["faces"]:
            false_on_no_face["proctor"] += len(result.faces)
        deface_out = None
        if deface:
            deface_out = cv2.imread(str(deface[1] / item["file"]), cv2.IMREAD_COLOR)
            if not item["faces"]:
                false_on_no_face["deface"] += len(deface[0][item["name"]])
        for category in (item["category"], "all"):
            for label in item["faces"]:
                row = rows[category]
                checks = {
                    "close_range": m.is_detected(label, close),
                    "centerface": m.is_detected(label, wide),
                    "proctor_detect": m.is_detected(label, [f.box for f in result.faces]),
                    "proctor_anon": m.is_anonymized(image, result.image, label),
                }
                if deface:
                    checks["deface_detect"] = m.is_detected(label, deface[0][item["name"]])
                    checks["deface_anon"] = m.is_anonymized(image, deface_out, label)
                for key, hit in checks.items():
                    row[key][0] += hit
                    row[key][1] += 1

    print("Detection recall (IoU >= 0.3) and anonymization recall (pixels), per category")
    columns = ["close_range", "centerface", "proctor_detect", "proctor_anon"]
    if deface:
        columns += ["deface_detect", "deface_anon"]
    print(f"  {'category':14s}" + "".join(f"{c:>22s}" for c in columns))
    for category in sorted(rows, key=lambda c: (c == "all", c)):
        cells = "".join(f"{m.percent(*rows[category][c]):>22s}" for c in columns)
        print(f"  {category:14s}{cells}")
    print(f"  images: {len(items)}, labelled faces: {rows['all']['proctor_anon'][1]}"
          + ("" if deface else "  (deface not installed: see benchmarks/README.md)"))
    print("Whole-frame blurs")
    print(f"  default policy, needless (frame analysable, no error): {whole_frame['default']}")
    print("  blur_frame_when_no_face policy, on frames that have faces (all missed): "
          f"{whole_frame['no_face_policy_on_faces']}")
    print(f"Detections on the {sum(not i['faces'] for i in items)} no-face images: "
          f"proctor {false_on_no_face['proctor']}"
          + (f", deface {false_on_no_face['deface']}" if deface else ""))


def section_irreversibility() -> None:
    """Run the detectors again on anonymized output: what do they find in hidden regions?"""
    from monitoring.vision.anonymize import anonymize_faces, expand_box
    from monitoring.vision.detect import iou

    items = [item for item in m.quality_items() if item["faces"]]
    finder = shared_face_finder()
    images = [cv2.imread(str(m.QUALITY / item["file"]), cv2.IMREAD_COLOR) for item in items]
    found = [finder.detect(image) for image in images]
    print("Irreversibility: detections again inside hidden regions (detectors on the output)")
    print(f"  {'method':10s}{'shape':9s}{'found again':>13s}{'of hidden':>11s}"
          f"{'face detail left':>18s}")
    for method in ("blur", "pixelate", "mask"):
        for shape in ("ellipse", "box"):
            policy = AnonymizationPolicy(method=method, shape=shape)
            again = hidden = 0
            detail_left = []
            for image, faces in zip(images, found, strict=True):
                output = anonymize_faces(image, faces, policy)
                regions = [expand_box(f.box, policy.margin, image.shape[1], image.shape[0])
                           for f in faces]
                hidden += len(faces)
                again += sum(any(iou(d.box, r) > 0.1 for r in regions)
                             for d in finder.detect(output))
                for face in faces:
                    inner = m._inner(face.box)
                    before = m.detail(image, inner)
                    if before > 1e-6:
                        detail_left.append(m.detail(output, inner) / before)
            median = sorted(detail_left)[len(detail_left) // 2]
            print(f"  {method:10s}{shape:9s}{again:13d}{hidden:11d}{100 * median:16.0f} %")
    print("  (detectors fire on a smooth head-shaped oval, even a solid one; boxes leave no "
          "such outline. Detail left: median share of the face's detail, see _measure.py)")


SECTIONS = [section_faces, section_irreversibility]


def section_incidents() -> None:
    """Incident recall and precision per second (``benchmarks/_incidents.py``)."""
    from _incidents import print_incident_quality

    print_incident_quality()


SECTIONS.append(section_incidents)


def main() -> None:
    for section in SECTIONS:
        section()
        print()


if __name__ == "__main__":
    main()
