"""A fake webcam for Chromium: a .y4m clip built here from a picture a package ships.

Chromium's ``--use-file-for-fake-video-capture`` plays the clip in a loop at its own frame
rate. Faces come from scikit-image's public-domain ``astronaut``; "empty" frames are its
``coffee`` photo (a lit, textured scene without anybody). Every frame carries its own sensor
-like noise, as a live camera does, so the frozen-camera rule never fires on the clip.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

WIDTH, HEIGHT = 640, 480


def _face_frame(rng: np.random.Generator) -> np.ndarray:
    from skimage import data

    canvas = cv2.resize(cv2.cvtColor(data.coffee(), cv2.COLOR_RGB2BGR), (WIDTH, HEIGHT))
    face = cv2.resize(cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR), (HEIGHT, HEIGHT))
    left = (WIDTH - HEIGHT) // 2
    canvas[:, left : left + HEIGHT] = face
    return _noisy(canvas, rng)


def _empty_frame(rng: np.random.Generator) -> np.ndarray:
    from skimage import data

    return _noisy(cv2.resize(cv2.cvtColor(data.coffee(), cv2.COLOR_RGB2BGR), (WIDTH, HEIGHT)),
                  rng)


def _noisy(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    noise = rng.integers(-8, 9, image.shape, dtype=np.int16)
    return np.clip(image.astype(np.int16) + noise, 0, 255).astype(np.uint8)


def build_y4m(path: Path, *, face_s: int = 10, empty_s: int = 10, fps: int = 2) -> Path:
    """``face_s`` seconds of a face, then ``empty_s`` seconds of nobody, at ``fps``."""
    rng = np.random.default_rng(42)
    frames = [_face_frame(rng) for _ in range(face_s * fps)]
    frames += [_empty_frame(rng) for _ in range(empty_s * fps)]
    with open(path, "wb") as out:
        out.write(f"YUV4MPEG2 W{WIDTH} H{HEIGHT} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for frame in frames:
            out.write(b"FRAME\n")
            out.write(cv2.cvtColor(frame, cv2.COLOR_BGR2YUV_I420).tobytes())
    return path
