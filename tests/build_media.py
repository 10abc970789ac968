"""Build the labelled face set used by the vision tests and benchmarks.

Run as ``.venv/bin/python tests/build_media.py`` (idempotent: it does nothing when the
set is already built from the same labels). Pictures come from packages, fetched at build
time with the registries' own clients and checked against the sha256 below; nothing is
fetched at test or run time:

- ``scikit-image==0.26.0`` wheel (PyPI, ``pip download --no-deps``): images that the wheel
  itself ships under ``skimage/data/`` (not the ones its ``pooch`` fetcher downloads).
- ``opencv-doc=4.6.0+dfsg-12`` (Debian, ``apt-get download``): the OpenCV sample data.

Face boxes of the sources are in ``tests/data/quality_labels.json`` (labelled by eye).
This script adds composites (groups of small pasted heads, dark frames, a webcam close-up
with a second person behind) whose boxes follow from the paste, and writes:

- ``tests/data/cache/quality/*.png`` and ``manifest.json``: every image with its
  category and face boxes;
- ``tests/data/cache/video/quality_640x480.avi`` (MJPG) and ``quality_640x480.json``: the
  quality set letterboxed to 640x480, each image held for a few panning frames, with the
  boxes of every frame; the speed benchmark and the deface comparison run on it.
"""

# The subprocesses below run fixed commands (pip, apt-get, dpkg-deb, tar) on pinned names.
# ruff: noqa: S603, S607

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent
LABELS = ROOT / "data" / "quality_labels.json"
CACHE = ROOT / "data" / "cache"
DOWNLOADS = CACHE / "downloads"
QUALITY = CACHE / "quality"
VIDEO = CACHE / "video"
BUILD_VERSION = "1"

SKIMAGE_WHEEL = "scikit-image==0.26.0"
SKIMAGE_FILES = {
    "astronaut": ("skimage/data/astronaut.png",
                  "88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5"),
    "camera": ("skimage/data/camera.png",
               "b0793d2adda0fa6ae899c03989482bff9a42d3d5690fc7e3648f2795d730c23a"),
    "chelsea": ("skimage/data/chelsea.png",
                "596aa1e7cb875eb79f437e310381d26b338a81c2da23439704a73c4651e8c4bb"),
    "coffee": ("skimage/data/coffee.png",
               "cc02f8ca188b167c775a7101b5d767d1e71792cf762c33d6fa15a4599b5a8de7"),
    "rocket": ("skimage/data/rocket.jpg",
               "c2dd0de7c538df8d111e479619b129464d0269d0ae5fd18ca91d33a7fdfea95c"),
}
OPENCV_DOC = "opencv-doc=4.6.0+dfsg-12"
_EXAMPLES = "./usr/share/doc/opencv-doc/examples/"
OPENCV_FILES = {
    "messi5": (_EXAMPLES + "data/messi5.jpg",
               "1d570e49654e84c7a943918537bd9e5e1ef82920152e147c834006e235be97c9"),
    "basketball1": (_EXAMPLES + "data/basketball1.png",
                    "ba06f6701f7260998b430c39b6557f775497e6ce7b1a74f0b7ea6af371bf54a6"),
    "basketball2": (_EXAMPLES + "data/basketball2.png",
                    "b3047772e0dc6c9d83c26f64894ca1a897f799f855c5574ac24b2ef934c2978e"),
    "megamind": (_EXAMPLES + "data/Megamind.avi",
                 "0057387cb7e75c8fd1663b62cfdc51fa53f527795d0fe3c1fea2fd159d3130b5"),
    "landscape_000": (_EXAMPLES + "hfs/data/000.jpg",
                      "e4fec7e2e67a8a425b512dc32452825655b11c7fa83326ae509c5c7ab138da9a"),
    "landscape_001": (_EXAMPLES + "hfs/data/001.jpg",
                      "4bcbe0927a8b50f2487463894328da66cddf37f2daa88448258b72892d1f7a23"),
    "landscape_002": (_EXAMPLES + "hfs/data/002.jpg",
                      "21b07a5287dec0306846191abf720c352e57b2c6b42bb30885c9deb02664ada7"),
}
# Frames of Megamind.avi used as stills (their boxes are in quality_labels.json).
MEGAMIND_FRAMES = (30, 60, 90, 150, 210)
VIDEO_SIZE = (640, 480)
VIDEO_FRAMES_PER_IMAGE = 6

Box = list[int]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def checked(name: str, data: bytes, expected: str) -> bytes:
    actual = sha256(data)
    if actual != expected:
        sys.exit(f"{name}: sha256 {actual} does not match the pinned {expected}; refusing it.")
    return data


def fetch_skimage() -> dict[str, bytes]:
    DOWNLOADS.mkdir(parents=True, exist_ok=True)
    wheels = sorted(DOWNLOADS.glob("scikit_image-0.26.0-*.whl"))
    if not wheels:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
             SKIMAGE_WHEEL, "--dest", str(DOWNLOADS)],
            check=True,
        )
        wheels = sorted(DOWNLOADS.glob("scikit_image-0.26.0-*.whl"))
    with zipfile.ZipFile(wheels[0]) as wheel:
        return {
            name: checked(name, wheel.read(member), digest)
            for name, (member, digest) in SKIMAGE_FILES.items()
        }


def fetch_opencv_doc() -> dict[str, bytes]:
    DOWNLOADS.mkdir(parents=True, exist_ok=True)
    debs = sorted(DOWNLOADS.glob("opencv-doc_4.6.0+dfsg-12_all.deb"))
    if not debs:
        if subprocess.run(["apt-get", "download", OPENCV_DOC], cwd=DOWNLOADS).returncode:
            # A fresh machine may have no package lists yet.
            subprocess.run(["apt-get", "update", "-qq"], check=True)
            subprocess.run(["apt-get", "download", OPENCV_DOC], check=True, cwd=DOWNLOADS)
        debs = sorted(DOWNLOADS.glob("opencv-doc_4.6.0+dfsg-12_all.deb"))
    with tempfile.TemporaryDirectory() as tmp:
        members = [member for member, _ in OPENCV_FILES.values()]
        tar_stream = subprocess.Popen(
            ["dpkg-deb", "--fsys-tarfile", str(debs[0])], stdout=subprocess.PIPE
        )
        subprocess.run(["tar", "-x", "-C", tmp, *members], stdin=tar_stream.stdout, check=True)
        tar_stream.wait()
        return {
            name: checked(name, (Path(tmp) / member).read_bytes(), digest)
            for name, (member, digest) in OPENCV_FILES.items()
        }


def decode(data: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    return image


def megamind_frames(data: bytes) -> dict[str, np.ndarray]:
    with tempfile.NamedTemporaryFile(suffix=".avi") as file:
        file.write(data)
        file.flush()
        capture = cv2.VideoCapture(file.name)
        frames = {}
        index = 0
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            if index in MEGAMIND_FRAMES:
                frames[f"megamind_{index:03d}"] = frame
            index += 1
        capture.release()
    return frames


def cut_head(image: np.ndarray, box: Box) -> tuple[np.ndarray, Box]:
    """Crop a face with its hair and neck around it; return the crop and the box in it."""
    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    cx1, cy1 = max(0, x1 - w // 2), max(0, y1 - h // 2)
    cx2, cy2 = min(image.shape[1], x2 + w // 2), min(image.shape[0], y2 + h // 2)
    return image[cy1:cy2, cx1:cx2].copy(), [x1 - cx1, y1 - cy1, x2 - cx1, y2 - cy1]


def paste_head(
    canvas: np.ndarray, head: np.ndarray, head_box: Box, *, face_width: int, x: int, y: int,
    flip: bool,
) -> Box:
    """Paste a head so that its face is ``face_width`` wide at (x, y); return the face box."""
    scale = face_width / (head_box[2] - head_box[0])
    size = (max(1, round(head.shape[1] * scale)), max(1, round(head.shape[0] * scale)))
    small = cv2.resize(head, size, interpolation=cv2.INTER_AREA)
    box = [round(v * scale) for v in head_box]
    if flip:
        small = small[:, ::-1]
        box = [size[0] - box[2], box[1], size[0] - box[0], box[3]]
    height, width = small.shape[:2]
    height = min(height, canvas.shape[0] - y)
    width = min(width, canvas.shape[1] - x)
    small = small[:height, :width]
    # A feathered ellipse hides the rectangular seam of the crop.
    alpha = np.zeros((height, width), np.float32)
    cv2.ellipse(alpha, (width // 2, height // 2), (width // 2, height // 2), 0, 0, 360, 1.0, -1)
    alpha = cv2.GaussianBlur(alpha, (0, 0), max(1.0, width / 12))[..., None]
    region = canvas[y:y + height, x:x + width].astype(np.float32)
    canvas[y:y + height, x:x + width] = (alpha * small + (1 - alpha) * region).astype(np.uint8)
    return [box[0] + x, box[1] + y, min(box[2] + x, x + width), min(box[3] + y, y + height)]


def darken(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A badly lit room: about a fifth of the light, with sensor noise."""
    dark = image.astype(np.float32) * 0.22
    dark += rng.normal(0, 2.5, image.shape)
    return np.clip(dark, 0, 255).astype(np.uint8)


def build_items(images: dict[str, np.ndarray], labels: dict) -> list[dict]:
    rng = np.random.default_rng(4)
    items: list[dict] = []

    def add(name: str, category: str, image: np.ndarray, faces: list[Box]) -> None:
        items.append({"name": name, "category": category, "image": image, "faces": faces})

    for name, source in labels["sources"].items():
        add(name, source["category"], images[name], [list(b) for b in source["faces"]])

    heads = []
    for name, source in labels["sources"].items():
        for box in source["faces"]:
            if name.startswith("basketball") and box[0] > 300:
                continue  # the face turned away does not survive being shrunk
            heads.append(cut_head(images[name], box))

    backgrounds = [images[n] for n in ("landscape_000", "landscape_001", "landscape_002",
                                       "coffee", "chelsea")]
    # Groups: 4 to 7 heads, 36 to 90 px wide, on a 640x480 scene, some mirrored (turned).
    for index in range(8):
        canvas = cv2.resize(backgrounds[index % len(backgrounds)], VIDEO_SIZE)
        faces: list[Box] = []
        columns = rng.permutation(6)[: rng.integers(4, 8)] if index % 2 else rng.permutation(6)
        for column in columns[:7]:
            head, head_box = heads[rng.integers(len(heads))]
            face_width = int(rng.integers(36, 91))
            x = int(column * 105 + rng.integers(0, 20))
            y = int(rng.integers(20, 300))
            faces.append(paste_head(canvas, head, head_box, face_width=face_width, x=x, y=y,
                                    flip=bool(rng.integers(2))))
        add(f"group_{index}", "group_small", canvas, faces)

    # Webcam close-up with a second person small in the background.
    for index, name in enumerate(("megamind_210", "astronaut", "megamind_150")):
        canvas = cv2.resize(images[name], VIDEO_SIZE)
        sx = VIDEO_SIZE[0] / images[name].shape[1]
        sy = VIDEO_SIZE[1] / images[name].shape[0]
        faces = [[round(b[0] * sx), round(b[1] * sy), round(b[2] * sx), round(b[3] * sy)]
                 for b in labels["sources"][name]["faces"]]
        head, head_box = heads[(index * 3 + 1) % len(heads)]
        faces.append(paste_head(canvas, head, head_box, face_width=40 + 6 * index,
                                x=530 - 480 * (index % 2), y=40, flip=index == 1))
        add(f"webcam_second_person_{index}", "background", canvas, faces)

    # Dark frames.
    for name in ("astronaut", "basketball1", "megamind_030", "group_0", "webcam_second_person_0",
                 "landscape_001"):
        source = next(item for item in items if item["name"] == name)
        category = "no_face" if not source["faces"] else "dark"
        add(f"dark_{name}", category, darken(source["image"], rng), source["faces"])
    return items


def letterbox(image: np.ndarray, faces: list[Box]) -> tuple[np.ndarray, list[Box]]:
    height, width = image.shape[:2]
    scale = min(VIDEO_SIZE[0] / width, VIDEO_SIZE[1] / height)
    new_w, new_h = round(width * scale), round(height * scale)
    ox, oy = (VIDEO_SIZE[0] - new_w) // 2, (VIDEO_SIZE[1] - new_h) // 2
    canvas = np.zeros((VIDEO_SIZE[1], VIDEO_SIZE[0], 3), np.uint8)
    canvas[oy:oy + new_h, ox:ox + new_w] = cv2.resize(image, (new_w, new_h))
    boxes = [[round(b[0] * scale) + ox, round(b[1] * scale) + oy,
              round(b[2] * scale) + ox, round(b[3] * scale) + oy] for b in faces]
    return canvas, boxes


def write_video(items: list[dict]) -> None:
    VIDEO.mkdir(parents=True, exist_ok=True)
    path = VIDEO / "quality_640x480.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 25, VIDEO_SIZE)
    frames = []
    for item in items:
        still, boxes = letterbox(item["image"], item["faces"])
        for step in range(VIDEO_FRAMES_PER_IMAGE):
            # Pan 2 px a frame so that the video is not a slide show of identical frames.
            shift = 2 * step
            matrix = np.float32([[1, 0, shift], [0, 1, 0]])
            frame = cv2.warpAffine(still, matrix, VIDEO_SIZE)
            writer.write(frame)
            frames.append({
                "source": item["name"], "category": item["category"],
                "faces": [[b[0] + shift, b[1], min(b[2] + shift, VIDEO_SIZE[0]), b[3]]
                          for b in boxes],
            })
    writer.release()
    (VIDEO / "quality_640x480.json").write_text(json.dumps({"frames": frames}, indent=0))


def main() -> None:
    labels_text = LABELS.read_text()
    stamp = sha256((BUILD_VERSION + labels_text + Path(__file__).read_text()).encode())
    stamp_file = CACHE / "BUILT"
    if stamp_file.exists() and stamp_file.read_text() == stamp:
        print(f"{CACHE} is up to date.")
        return
    labels = json.loads(labels_text)
    blobs = fetch_skimage() | fetch_opencv_doc()
    images = {name: decode(data) for name, data in blobs.items() if name != "megamind"}
    images |= megamind_frames(blobs["megamind"])
    items = build_items(images, labels)

    if QUALITY.exists():
        shutil.rmtree(QUALITY)
    QUALITY.mkdir(parents=True)
    manifest = []
    for item in items:
        file_name = f"{item['name']}.png"
        cv2.imwrite(str(QUALITY / file_name), item["image"])
        manifest.append({"name": item["name"], "file": file_name,
                         "category": item["category"], "faces": item["faces"]})
    (QUALITY / "manifest.json").write_text(json.dumps({"images": manifest}, indent=1))
    write_video(items)
    (VIDEO / "megamind.avi").write_bytes(blobs["megamind"])
    stamp_file.write_text(stamp)
    faces = sum(len(item["faces"]) for item in items)
    print(f"Built {len(items)} images with {faces} labelled faces in {QUALITY}.")


if __name__ == "__main__":
    main()
