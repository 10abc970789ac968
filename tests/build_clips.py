"""Build the labelled incident clips under tests/data/cache/clips (idempotent).

Run at build time: ``.venv/bin/python tests/build_clips.py``. Every picture comes from a
package already installed (scikit-image ships the public-domain ``astronaut`` portrait in
its wheel), so nothing is fetched. Each clip is a 640x480 MJPEG AVI at 10 frames/s with a
JSON file beside it giving, for every second, the incident kinds a reviewer would expect.

The face-editing helpers (turning a head, moving the irises) are also what the vision tests
use to make their inputs: they warp the real photo along its own face mesh, so the tests
measure the estimators on pixels, not on made-up numbers.
"""

from __future__ import annotations

import functools
import json
import math
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from monitoring.vision.detect import Face, ShortRangeDetector  # noqa: E402
from monitoring.vision.landmarks import FaceLandmarker, shared_landmarker  # noqa: E402

BgrImage = npt.NDArray[np.uint8]

CLIPS_DIR = REPO / "tests" / "data" / "cache" / "clips"
CLIP_FPS = 10
FRAME_SIZE = (640, 480)
# Bump when the clips change, so a stale cache is rebuilt.
CLIPS_VERSION = 2


@functools.cache
def astronaut_bgr() -> BgrImage:
    """scikit-image's astronaut portrait (512x512, public domain), as BGR."""
    import skimage.data

    return np.ascontiguousarray(cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR))


def _tools() -> tuple[ShortRangeDetector, FaceLandmarker]:
    """The process-wide detector and landmarker (the privacy core closes its detector
    before the interpreter's executors shut down, so no teardown noise)."""
    from monitoring.vision.pipeline import shared_face_finder

    return shared_face_finder().close_range, shared_landmarker()


def face_mesh(image_bgr: BgrImage) -> npt.NDArray[np.float64]:
    """The (468, 3) mesh of the largest face in ``image_bgr``."""
    detector, landmarker = _tools()
    faces = detector.detect(image_bgr)
    if not faces:
        raise ValueError("No face in the picture to edit.")
    face = max(faces, key=lambda f: f.width * f.height)
    landmarks = landmarker.detect(image_bgr, face)
    if landmarks is None:
        raise ValueError("No face mesh in the picture to edit.")
    return landmarks.points


def turn_face(image_bgr: BgrImage, *, yaw_deg: float = 0.0, pitch_deg: float = 0.0) -> BgrImage:
    """The picture with its face turned in 3D by ``yaw_deg`` (positive: nose towards the
    image's right) and ``pitch_deg`` (positive: nose up).

    The face mesh is triangulated, rotated about an axis inside the head, and painted back
    to front (orthographic projection, back faces culled) over the picture with the
    original face inpainted away, so the near side of the face hides the far side as it
    would on camera.
    """
    from scipy.spatial import Delaunay

    mesh = face_mesh(image_bgr)
    centre = mesh.mean(axis=0)
    centre[2] += 0.35 * float(np.ptp(mesh[:, 0]))  # turn about the neck, not the skin
    yaw, pitch = math.radians(yaw_deg), math.radians(pitch_deg)
    # Camera axes: x right, y down, z away. The nose points to -z; turn it towards +x
    # and towards -y (up).
    about_y = np.array(
        [[math.cos(yaw), 0, -math.sin(yaw)], [0, 1, 0], [math.sin(yaw), 0, math.cos(yaw)]]
    )
    about_x = np.array(
        [[1, 0, 0], [0, math.cos(pitch), math.sin(pitch)], [0, -math.sin(pitch), math.cos(pitch)]]
    )
    turned = (mesh - centre) @ (about_x @ about_y).T + centre
    hull = cv2.convexHull(mesh[:, :2].astype(np.int32))
    hole = np.zeros(image_bgr.shape[:2], np.uint8)
    cv2.fillConvexPoly(hole, hull, 255)
    out = cv2.inpaint(image_bgr, hole, 3, cv2.INPAINT_TELEA)
    triangles = Delaunay(mesh[:, :2]).simplices
    far_first = np.argsort(-turned[triangles][:, :, 2].mean(axis=1))
    height, width = out.shape[:2]
    for triangle in triangles[far_first]:
        source = mesh[triangle, :2].astype(np.float32)
        target = turned[triangle, :2].astype(np.float32)
        if _winding(source) != _winding(target):
            continue  # turned away from the camera
        x, y, w, h = cv2.boundingRect(target)
        if w <= 0 or h <= 0 or x < 0 or y < 0 or x + w > width or y + h > height:
            continue
        offset = np.float32([x, y])
        matrix = cv2.getAffineTransform(source, (target - offset).astype(np.float32))
        patch = cv2.warpAffine(
            image_bgr, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
        )
        mask = np.zeros((h, w), np.uint8)
        cv2.fillConvexPoly(mask, np.round(target - offset).astype(np.int32), 255)
        region = out[y : y + h, x : x + w]
        region[mask > 0] = patch[mask > 0]
    return out


def _winding(triangle: npt.NDArray[np.float32]) -> float:
    (ax, ay), (bx, by) = triangle[1] - triangle[0], triangle[2] - triangle[0]
    return float(np.sign(ax * by - ay * bx))


def shift_irises(image_bgr: BgrImage, *, dx_px: float, dy_px: float = 0.0) -> BgrImage:
    """The picture with both irises moved by ``(dx_px, dy_px)`` inside still eye corners:
    a displacement bump centred on each eye, fading out before the corners."""
    from monitoring.vision.landmarks import (
        LEFT_EYE_INNER,
        LEFT_EYE_OUTER,
        RIGHT_EYE_INNER,
        RIGHT_EYE_OUTER,
    )

    mesh = face_mesh(image_bgr)
    height, width = image_bgr.shape[:2]
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    map_x, map_y = xs.copy(), ys.copy()
    for a, b in ((RIGHT_EYE_OUTER, RIGHT_EYE_INNER), (LEFT_EYE_INNER, LEFT_EYE_OUTER)):
        centre = (mesh[a, :2] + mesh[b, :2]) / 2.0
        sigma = float(np.linalg.norm(mesh[b, :2] - mesh[a, :2])) / 5.0
        bump = np.exp(-((xs - centre[0]) ** 2 + (ys - centre[1]) ** 2) / (2 * sigma**2))
        map_x -= (dx_px * bump).astype(np.float32)
        map_y -= (dy_px * bump).astype(np.float32)
    return cv2.remap(image_bgr, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def rotate_in_plane(image_bgr: BgrImage, angle_deg: float) -> BgrImage:
    """The picture rotated counter-clockwise by ``angle_deg`` about the face centre."""
    mesh = face_mesh(image_bgr)
    cx, cy = mesh[:, :2].mean(axis=0)
    matrix = cv2.getRotationMatrix2D((float(cx), float(cy)), angle_deg, 1.0)
    height, width = image_bgr.shape[:2]
    return cv2.warpAffine(image_bgr, matrix, (width, height), borderMode=cv2.BORDER_REFLECT)


def largest_face(image_bgr: BgrImage) -> Face:
    faces = _tools()[0].detect(image_bgr)
    if not faces:
        raise ValueError("No face found.")
    return max(faces, key=lambda f: f.width * f.height)


# ---------------------------------------------------------------------------------------
# Clips


def _background() -> BgrImage:
    """A plain room-like backdrop: the top-left corner of the portrait (flag and wall), with
    no face in it, stretched to 640x480."""
    portrait = astronaut_bgr()
    return cv2.resize(portrait[0:150, 380:512], FRAME_SIZE, interpolation=cv2.INTER_CUBIC)


def _place(face_img: BgrImage, at_x: int, scale: float = 1.0) -> BgrImage:
    """The portrait's head and shoulders on the backdrop, centred horizontally at ``at_x``."""
    frame = _background()
    head = face_img[0:330, 90:390]
    head = cv2.resize(head, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
    h, w = head.shape[:2]
    x1 = int(np.clip(at_x - w // 2, 0, FRAME_SIZE[0] - w))
    y1 = FRAME_SIZE[1] - h
    frame[y1 : y1 + h, x1 : x1 + w] = head
    return frame


def _frames_present() -> BgrImage:
    return _place(astronaut_bgr(), 320, scale=1.3)


def _frames_two_faces() -> BgrImage:
    frame = _background()
    head = astronaut_bgr()[0:330, 90:390]  # 300 px wide: two fit side by side
    h, w = head.shape[:2]
    frame[480 - h :, 10 : 10 + w] = head
    frame[480 - h :, 630 - w : 630] = head[:, ::-1]
    return frame


def _frames_turned() -> BgrImage:
    return _place(turn_face(astronaut_bgr(), yaw_deg=55.0), 320, scale=1.3)


def _frames_dark() -> BgrImage:
    return (_frames_present().astype(np.float32) * 0.04).astype(np.uint8)


# Each segment: (kind of scene, seconds, ground-truth incident kinds, frozen?)
_SCENES: dict[str, Callable[[], BgrImage]] = {
    "present": _frames_present,
    "absent": _background,
    "two_faces": _frames_two_faces,
    "turned": _frames_turned,
    "dark": _frames_dark,
}
CLIPS: dict[str, list[tuple[str, int, tuple[str, ...], bool]]] = {
    "absent": [
        ("present", 4, (), False),
        ("absent", 10, ("no_face",), False),
        ("present", 4, (), False),
    ],
    "two_faces": [
        ("present", 4, (), False),
        ("two_faces", 10, ("multiple_faces",), False),
        ("present", 4, (), False),
    ],
    "turned": [
        ("present", 4, (), False),
        ("turned", 10, ("looking_away",), False),
        ("present", 4, (), False),
    ],
    "dark": [
        ("present", 4, (), False),
        ("dark", 10, ("camera_blocked",), False),
        ("present", 4, (), False),
    ],
    "frozen": [
        ("present", 4, (), False),
        ("present", 10, ("camera_frozen",), True),
        ("present", 4, (), False),
    ],
    "flicker": [
        ("present", 3, (), False),
        ("absent", 1, (), False),
        ("present", 3, (), False),
        ("two_faces", 1, (), False),
        ("present", 3, (), False),
    ],
}


def _live(frame: BgrImage, rng: np.random.Generator, index: int) -> BgrImage:
    """A still picture made to look like a live webcam: sensor noise and a slight sway."""
    dx = 3.0 * math.sin(index / 7.0)
    dy = 2.0 * math.sin(index / 11.0)
    moved = cv2.warpAffine(
        frame, np.float32([[1, 0, dx], [0, 1, dy]]), FRAME_SIZE, borderMode=cv2.BORDER_REFLECT
    )
    noise = rng.normal(0.0, 2.5, moved.shape)
    return np.clip(moved.astype(np.float32) + noise, 0, 255).astype(np.uint8)


def clip_frames(name: str) -> Iterator[BgrImage]:
    rng = np.random.default_rng(5)
    index = 0
    cache: dict[str, BgrImage] = {}
    for scene, seconds, _, is_frozen in CLIPS[name]:
        still = cache.setdefault(scene, _SCENES[scene]())
        frozen_frame = _live(still, rng, index)
        for _ in range(seconds * CLIP_FPS):
            yield frozen_frame if is_frozen else _live(still, rng, index)
            index += 1


def clip_labels(name: str) -> list[list[str]]:
    """Per second of the clip, the incident kinds expected then."""
    labels: list[list[str]] = []
    for _, seconds, kinds, _ in CLIPS[name]:
        labels.extend([sorted(kinds)] * seconds)
    return labels


# ---------------------------------------------------------------------------------------
# The browser's fake webcam: one whole exam session for Chromium's
# ``--use-file-for-fake-video-capture`` (tests/e2e/test_session_record.py). A .y4m file
# (raw I420: what Chromium reads), played in a loop at EXAM_CLIP_FPS; at the exam's 2
# frames/s no two grabs see the same clip frame, so the frozen-camera rule has no cause.
#
# Every frame carries its own index in a strip of grey cells at the top left (a Gray code:
# one cell changes from a frame to the next, by less than the anonymizer's change
# detector notices), so a stored, anonymized evidence frame says which moment of the clip
# it shows, whatever the page's clock and whenever the browser started the camera.

EXAM_CLIP_DIR = CLIPS_DIR / "browser"
EXAM_CLIP_FPS = 3
EXAM_CLIP_VERSION = 1
# (scene, seconds, incident kinds a reviewer expects during it)
EXAM_CLIP: list[tuple[str, int, tuple[str, ...]]] = [
    ("present", 6, ()),
    ("absent", 9, ("no_face",)),
    ("present", 6, ()),
    ("two_faces", 8, ("multiple_faces",)),
    ("present", 6, ()),
    ("turned", 9, ("looking_away",)),
    ("present", 6, ()),
    ("absent", 9, ("no_face",)),  # the student submits before the face is back
]
FRAME_CODE_BITS = 10
_CODE_CELL_PX = 16
_CODE_ORIGIN = (16, 8)  # x, y of the first cell in a 640x480 frame
_CODE_LIGHT, _CODE_DARK = 170, 90


def _gray(index: int) -> int:
    return index ^ (index >> 1)


def _code_cells() -> Iterator[tuple[int, int]]:
    """Top-left corners of the strip's cells: a light and a dark reference cell, then the
    bits, most significant first."""
    x0, y0 = _CODE_ORIGIN
    for cell in range(FRAME_CODE_BITS + 2):
        yield x0 + cell * _CODE_CELL_PX, y0


def stamp_frame_index(frame: BgrImage, index: int) -> BgrImage:
    """``frame`` (640x480) with ``index`` written in its code strip."""
    out = frame.copy()
    code = _gray(index)
    bits = [1, 0] + [(code >> bit) & 1 for bit in reversed(range(FRAME_CODE_BITS))]
    for (x, y), bit in zip(_code_cells(), bits, strict=True):
        out[y : y + _CODE_CELL_PX, x : x + _CODE_CELL_PX] = _CODE_LIGHT if bit else _CODE_DARK
    return out


def read_frame_index(image_bgr: BgrImage) -> int | None:
    """The index stamped by ``stamp_frame_index``, read from the frame at any scale (the
    stored evidence is 320x240 JPEG); ``None`` when the strip is unreadable (a frame
    blurred as a whole, say)."""
    grey = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2GRAY).astype(np.float32)
    scale = image_bgr.shape[1] / FRAME_SIZE[0]
    means = []
    for x, y in _code_cells():
        inset, far = _CODE_CELL_PX / 4, _CODE_CELL_PX * 3 / 4
        x1, y1 = round((x + inset) * scale), round((y + inset) * scale)
        x2, y2 = round((x + far) * scale), round((y + far) * scale)
        means.append(float(grey[y1:y2, x1:x2].mean()))
    light, dark = means[0], means[1]
    if light - dark < (_CODE_LIGHT - _CODE_DARK) / 2:
        return None
    threshold = (light + dark) / 2
    code = 0
    for mean in means[2:]:
        if abs(mean - threshold) < (light - dark) / 4:
            return None  # neither light nor dark: not a strip
        code = code << 1 | (mean > threshold)
    index = 0
    while code:  # Gray code back to binary
        index ^= code
        code >>= 1
    return index


def exam_clip_scene_at(t_s: float) -> tuple[str, tuple[str, ...]]:
    """The scene and expected incident kinds ``t_s`` seconds into the exam clip."""
    start = 0.0
    for scene, seconds, kinds in EXAM_CLIP:
        if t_s < start + seconds:
            return scene, kinds
        start += seconds
    raise ValueError(f"The exam clip is {start:g} s long; {t_s:g} s is past its end.")


def exam_clip_still(scene: str) -> BgrImage:
    """A scene of the exam clip as it is before the webcam noise and the code strip."""
    return _SCENES[scene]()


def build_exam_clip(out_dir: Path = EXAM_CLIP_DIR) -> Path:
    """Write the exam clip as .y4m (skipped when built at this version); returns its path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    video = out_dir / "exam_session.y4m"
    meta = out_dir / "exam_session.json"
    is_built = video.exists() and meta.exists()
    if is_built and json.loads(meta.read_text()).get("version") == EXAM_CLIP_VERSION:
        return video
    rng = np.random.default_rng(11)
    stills: dict[str, BgrImage] = {}
    partial = video.with_suffix(".partial")
    width, height = FRAME_SIZE
    index = 0
    with open(partial, "wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F{EXAM_CLIP_FPS}:1 Ip A1:1 C420jpeg\n".encode())
        for scene, seconds, _ in EXAM_CLIP:
            still = stills.setdefault(scene, _SCENES[scene]())
            for _ in range(seconds * EXAM_CLIP_FPS):
                frame = stamp_frame_index(_live(still, rng, index), index)
                out.write(b"FRAME\n")
                out.write(cv2.cvtColor(frame, cv2.COLOR_BGR2YUV_I420).tobytes())
                index += 1
    partial.replace(video)
    meta.write_text(json.dumps({
        "version": EXAM_CLIP_VERSION, "fps": EXAM_CLIP_FPS,
        "segments": [[scene, seconds, list(kinds)] for scene, seconds, kinds in EXAM_CLIP],
    }, indent=1))
    return video


# ---------------------------------------------------------------------------------------
# Audio: no package ships recorded speech, so voices are synthesised the classic way (a
# source-filter vowel model): a glottal pulse train at a speaking pitch with intonation,
# through three formant resonators that change vowel every 250 ms, at a syllable-rate
# loudness.

AUDIO_RATE_HZ = 16_000
_VOWELS = ((700, 1200, 2600), (300, 2300, 3000), (500, 900, 2500))


def synth_voice(
    pitch_hz: float, seconds: float, *, seed: int = 0, level: float = 0.3
) -> npt.NDArray[np.int16]:
    """A voice at ``pitch_hz`` saying vowels, as 16 kHz int16 samples."""
    from scipy.signal import lfilter

    rng = np.random.default_rng(seed)
    n = int(AUDIO_RATE_HZ * seconds)
    t = np.arange(n) / AUDIO_RATE_HZ
    pitch = pitch_hz * (1 + 0.05 * np.sin(2 * np.pi * 0.7 * t))  # intonation
    pulses = np.diff(np.floor(np.cumsum(pitch / AUDIO_RATE_HZ)), prepend=0.0)
    source = pulses + 0.02 * rng.standard_normal(n)
    out = np.zeros(n)
    segment = AUDIO_RATE_HZ // 4
    for start in range(0, n, segment):
        signal = source[start : start + segment]
        formants = _VOWELS[start // segment % 3]
        for centre, bandwidth in zip(formants, (80, 100, 120), strict=True):
            r = np.exp(-np.pi * bandwidth / AUDIO_RATE_HZ)
            theta = 2 * np.pi * centre / AUDIO_RATE_HZ
            signal = lfilter([1 - r], [1, -2 * r * np.cos(theta), r * r], signal)
        out[start : start + segment] = signal
    out *= 0.6 + 0.4 * np.sin(2 * np.pi * 4 * t)  # syllables
    peak = float(np.abs(out).max()) or 1.0
    return (out / peak * level * 32767).astype(np.int16)


def synth_conversation(seconds: float) -> npt.NDArray[np.int16]:
    """Two voices (110 Hz and 230 Hz) taking half-second turns."""
    turns = [synth_voice(110 if i % 2 else 230, 0.5, seed=i) for i in range(int(seconds * 2))]
    return np.concatenate(turns)


def speech_track() -> tuple[npt.NDArray[np.int16], list[list[str]]]:
    """A labelled 30 s audio track: silence, a voice, a fan, a conversation, a murmur."""
    rng = np.random.default_rng(3)
    second = AUDIO_RATE_HZ

    def silence(s: int) -> npt.NDArray[np.int16]:
        return (rng.standard_normal(s * second) * 20).astype(np.int16)

    def fan(s: int) -> npt.NDArray[np.int16]:
        return (rng.standard_normal(s * second) * 400).astype(np.int16)

    parts: list[tuple[npt.NDArray[np.int16], list[str]]] = [
        (silence(4), []),
        (synth_voice(120, 8, seed=1), ["speech"]),
        (fan(5), []),
        (synth_conversation(6), ["speech"]),
        (silence(3), []),
        (synth_voice(200, 1, seed=2), []),  # one word, shorter than speech_min_s
        (silence(3), []),
    ]
    samples = np.concatenate([p for p, _ in parts])
    labels = [kinds for part, kinds in parts for _ in range(len(part) // second)]
    return samples, labels


def build(out_dir: Path = CLIPS_DIR) -> list[Path]:
    """Write every clip (skipping those already built at this version); returns paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in CLIPS:
        video = out_dir / f"{name}.avi"
        meta = out_dir / f"{name}.json"
        paths.append(video)
        is_built = video.exists() and meta.exists()
        if is_built and json.loads(meta.read_text()).get("version") == CLIPS_VERSION:
            continue
        writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), CLIP_FPS, FRAME_SIZE)
        if not writer.isOpened():
            raise RuntimeError(f"OpenCV cannot write MJPEG AVI to {video}.")
        for frame in clip_frames(name):
            writer.write(frame)
        writer.release()
        meta.write_text(
            json.dumps(
                {"version": CLIPS_VERSION, "fps": CLIP_FPS, "labels": clip_labels(name)},
                indent=1,
            )
        )
    return paths


if __name__ == "__main__":
    for path in [*build(), build_exam_clip()]:
        print(path.relative_to(REPO))
