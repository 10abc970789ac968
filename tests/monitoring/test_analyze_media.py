"""``manage.py analyze_media``: its JSON-lines contract, table output and bad input."""

from __future__ import annotations

import io
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from django.core.management import CommandError, call_command

from tests.build_clips import (
    CLIP_FPS,
    FRAME_SIZE,
    _background,
    _frames_present,
    _frames_two_faces,
    _live,
    astronaut_bgr,
    turn_face,
)

FIELDS = {"file", "width", "height", "faces", "head_pose", "gaze", "incidents"}


def run(*args: str) -> tuple[list[dict], str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("analyze_media", *args, "--json", stdout=out, stderr=err)
    return [json.loads(line) for line in out.getvalue().splitlines()], err.getvalue()


def write_image(path: Path, image: np.ndarray) -> Path:
    assert cv2.imwrite(str(path), image)
    return path


def write_video(path: Path, scenes: list[tuple[np.ndarray, int]]) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), CLIP_FPS, FRAME_SIZE)
    rng = np.random.default_rng(0)
    index = 0
    for still, seconds in scenes:
        for _ in range(seconds * CLIP_FPS):
            writer.write(_live(still, rng, index))
            index += 1
    writer.release()
    return path


def test_portrait_is_one_line_with_face_pose_gaze_and_no_incident(tmp_path):
    path = write_image(tmp_path / "portrait.png", astronaut_bgr())
    (row,), _ = run(str(path))
    assert set(row) == FIELDS  # no "t" for an image
    assert (row["file"], row["width"], row["height"]) == (str(path), 512, 512)
    (face,) = row["faces"]
    x1, y1, x2, y2 = face["box"]
    assert 150 < x1 < x2 < 300 and 60 < y1 < y2 < 200 and 0.5 < face["score"] <= 1
    assert set(row["head_pose"]) == {"yaw", "pitch", "roll"}
    assert all(abs(v) < 5 for v in row["head_pose"].values())
    assert set(row["gaze"]) == {"x", "y"} and abs(row["gaze"]["x"]) < 0.2
    assert row["incidents"] == []


@pytest.mark.parametrize(
    ("name", "make", "expected"),
    [
        ("two.png", _frames_two_faces, ["multiple_faces"]),
        ("turned.jpg", lambda: turn_face(astronaut_bgr(), yaw_deg=55), ["looking_away"]),
        ("empty.png", _background, ["no_face"]),
        ("black.jpg", lambda: np.zeros((480, 640, 3), np.uint8), ["camera_blocked"]),
    ],
)
def test_single_image_rules_apply_without_minimum_durations(tmp_path, name, make, expected):
    (row,), _ = run(str(write_image(tmp_path / name, make())))
    assert row["incidents"] == expected


def test_black_frame_has_no_pose_or_gaze(tmp_path):
    (row,), _ = run(str(write_image(tmp_path / "black.png", np.zeros((48, 64, 3), np.uint8))))
    assert (row["faces"], row["head_pose"], row["gaze"]) == ([], None, None)


def test_video_gives_two_lines_per_second_and_opens_no_face_after_its_minimum(tmp_path):
    video = write_video(tmp_path / "leaves.avi", [(_frames_present(), 2), (_background(), 8)])
    rows, _ = run(str(video))
    assert [row["t"] for row in rows] == [i / 2 for i in range(20)]
    assert all(set(row) == FIELDS | {"t"} for row in rows)
    assert all(len(row["faces"]) == 1 and row["head_pose"] for row in rows[:4])
    # The seat is empty from t=2; no_face needs 5 s, so it is open from t=7 on.
    assert [row["t"] for row in rows if row["incidents"] == ["no_face"]] == [
        i / 2 for i in range(14, 20)
    ]
    assert all(row["incidents"] == [] for row in rows[:14])


def test_fps_option_sets_the_sampling_rate(tmp_path):
    video = write_video(tmp_path / "short.avi", [(_frames_present(), 3)])
    rows, _ = run(str(video), "--fps", "1")
    assert [row["t"] for row in rows] == [0.0, 1.0, 2.0]


def test_table_output_is_readable(tmp_path):
    path = write_image(tmp_path / "two.png", _frames_two_faces())
    out = io.StringIO()
    call_command("analyze_media", str(path), stdout=out, stderr=io.StringIO())
    header, line = out.getvalue().splitlines()
    assert header.split()[:4] == ["file", "t", "size", "faces"]
    assert line.startswith("two.png") and "640x480" in line
    assert line.endswith("multiple_faces")


def test_unreadable_files_are_reported_and_the_run_goes_on(tmp_path):
    good = write_image(tmp_path / "portrait.png", astronaut_bgr())
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError, match=r"2 of 3 file\(s\) could not be analysed"):
        call_command(
            "analyze_media", str(broken), str(good), str(notes), "--json", stdout=out, stderr=err
        )
    assert [json.loads(line)["file"] for line in out.getvalue().splitlines()] == [str(good)]
    assert f"{broken}: JPEG header has no readable frame size" in err.getvalue()
    assert "Unsupported file type '.txt'" in err.getvalue()


def test_missing_video_is_reported(tmp_path):
    with pytest.raises(CommandError, match=r"1 of 1 file\(s\)"):
        call_command(
            "analyze_media", str(tmp_path / "gone.mp4"), stdout=io.StringIO(), stderr=io.StringIO()
        )


def test_non_positive_fps_is_refused(tmp_path):
    with pytest.raises(CommandError, match="--fps must be a positive number, got 0.0"):
        call_command("analyze_media", str(tmp_path / "x.avi"), "--fps", "0")


def test_upside_down_portrait_is_analysed_as_an_upside_down_face(tmp_path):
    upside_down = np.ascontiguousarray(astronaut_bgr()[::-1, ::-1])
    (row,), _ = run(str(write_image(tmp_path / "upside_down.png", upside_down)))
    assert len(row["faces"]) == 1
    assert abs(abs(row["head_pose"]["roll"]) - 180) < 10
    assert row["incidents"] == []


def test_false_face_on_a_mirrored_portrait_is_not_a_second_person(tmp_path):
    # CenterFace and BlazeFace both score a large false face on this image (0.69); the
    # face mesh does not confirm it, so it is hidden by the privacy core but not counted.
    mirrored = np.ascontiguousarray(astronaut_bgr()[::-1])
    (row,), _ = run(str(write_image(tmp_path / "mirrored.png", mirrored)))
    assert len(row["faces"]) == 2
    # What this test is about: the unconfirmed face is not counted as a second person.
    # (Whether the upside-down real face yields a pose depends on the detector's box;
    # without a pose, a sure face counts as looking away, which is not checked here.)
    assert "multiple_faces" not in row["incidents"]


def test_face_cut_by_the_frame_edge_is_analysed(tmp_path):
    half = np.ascontiguousarray(astronaut_bgr()[:, 200:])
    (row,), _ = run(str(write_image(tmp_path / "half.png", half)))
    ((x1, _, _, _),) = [face["box"] for face in row["faces"]]
    assert x1 == 0 and row["head_pose"] is not None
    assert "no_face" not in row["incidents"]
