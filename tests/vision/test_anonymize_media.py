"""The anonymize_media command: same names in --out, faces hidden, metadata gone."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from django.core.management import CommandError, call_command
from PIL import Image

from .conftest import QUALITY, is_anonymized, region_changed


def run(*args: str) -> tuple[str, str, CommandError | None]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("anonymize_media", *args, stdout=out, stderr=err)
    except CommandError as error:
        return out.getvalue(), err.getvalue(), error
    return out.getvalue(), err.getvalue(), None


@pytest.fixture
def photo_with_gps(tmp_path, load_quality_image):
    image, labels = load_quality_image("webcam_second_person_1")
    exif = Image.Exif()
    exif[0x010E] = "SECRET-DESCRIPTION"
    exif[0x8825] = {1: "N", 2: (52.0, 31.0, 12.0)}
    path = tmp_path / "in" / "student.jpg"
    path.parent.mkdir()
    Image.fromarray(image[:, :, ::-1]).save(path, "JPEG", exif=exif.tobytes(), quality=95,
                                           comment=b"SECRET-COMMENT")
    return path, image, labels


def write_video(path, frames, fourcc="MJPG"):
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*fourcc), 10, (width, height))
    for frame in frames:
        writer.write(frame)
    writer.release()


def read_video(path):
    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            return frames
        frames.append(frame)


def test_image_is_written_under_the_same_name_without_metadata(tmp_path, photo_with_gps):
    path, original, labels = photo_with_gps
    out, err, error = run(str(path), "--out", str(tmp_path / "out"))
    assert error is None, err
    result = (tmp_path / "out" / "student.jpg").read_bytes()
    assert b"SECRET" not in result and b"Exif" not in result
    decoded = cv2.imdecode(np.frombuffer(result, np.uint8), cv2.IMREAD_COLOR)
    for box in labels:
        assert is_anonymized(original, decoded, box)
    assert "Anonymized 1 of 1 files: 1 frames, 2 faces" in out
    assert "frames/s." in out


@pytest.mark.parametrize(("method", "strength"), [("pixelate", "8"), ("mask", "3")])
def test_method_and_strength_flags_are_applied(tmp_path, method, strength):
    source = QUALITY / "astronaut.png"
    _, err, error = run(str(source), "--out", str(tmp_path), "--method", method,
                        "--strength", strength)
    assert error is None, err
    original = cv2.imread(str(source))
    output = cv2.imread(str(tmp_path / "astronaut.png"))
    assert region_changed(original, output, (185, 80, 265, 170)) > 10
    if method == "mask":
        assert tuple(output[125, 225]) == (40, 40, 40)


def test_invalid_strength_is_refused_before_any_work(tmp_path):
    _, _, error = run(str(QUALITY / "astronaut.png"), "--out", str(tmp_path), "--strength", "0")
    assert error is not None and "between 1 and 10, got 0" in str(error)


def test_video_frames_are_all_anonymized_and_a_broken_file_does_not_stop_the_run(
    tmp_path, load_quality_image
):
    image, labels = load_quality_image("group_1")
    frames = [np.roll(image, shift, axis=1) for shift in range(0, 16, 2)]
    inputs = tmp_path / "in"
    inputs.mkdir()
    write_video(inputs / "lecture.avi", frames)
    # A video whose middle is overwritten with garbage: a broken frame.
    broken = bytearray((inputs / "lecture.avi").read_bytes())
    middle = len(broken) // 2
    broken[middle:middle + 4000] = bytes(4000)
    (inputs / "broken.avi").write_bytes(bytes(broken))
    (inputs / "notes.txt").write_text("not media")
    (inputs / "fake.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(10))

    out, err, error = run(str(inputs), "--out", str(tmp_path / "out"))

    assert "notes.txt: Unsupported file type .txt" in err
    assert "fake.png: PNG has no IHDR chunk" in err
    assert error is not None and "2 of 4 files failed" in str(error)
    assert "Anonymized 2 of 4 files" in out
    written = read_video(tmp_path / "out" / "lecture.avi")
    assert len(written) == len(frames)
    for index, (before, after) in enumerate(zip(frames, written, strict=True)):
        shift = 2 * index
        for x1, y1, x2, y2 in labels:
            if x2 + shift < before.shape[1]:
                assert is_anonymized(before, after, (x1 + shift, y1, x2 + shift, y2)), index
    # Whatever the broken video yielded went through the anonymizer too.
    for index, after in enumerate(read_video(tmp_path / "out" / "broken.avi")):
        x1, y1, x2, y2 = labels[0]
        shift = 2 * index
        assert is_anonymized(frames[index], after, (x1 + shift, y1, x2 + shift, y2))


def test_missing_path_is_reported_per_file(tmp_path):
    out, err, error = run(str(tmp_path / "nope.mp4"), str(QUALITY / "coffee.png"),
                          "--out", str(tmp_path / "out"))
    assert "nope.mp4: Video" in err and "does not exist" in err
    assert (tmp_path / "out" / "coffee.png").exists()
    assert error is not None and "1 of 2 files failed" in str(error)
