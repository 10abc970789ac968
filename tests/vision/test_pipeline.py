"""The pipeline hides every labelled face and fails closed."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from monitoring.vision.anonymize import AnonymizationPolicy
from monitoring.vision.decode import decode_image, encode_jpeg
from monitoring.vision.detect import CenterFaceDetector, Face
from monitoring.vision.errors import (
    CorruptImage,
    DetectionFailed,
    ModelUnavailable,
    UnsupportedFormat,
)
from monitoring.vision.pipeline import (
    FaceFinder,
    FrameAnonymizer,
    anonymize_jpeg,
    shared_face_finder,
)
from monitoring.vision.tracking import FaceTracker

from .conftest import detail, is_anonymized, region_changed


class ScriptedDetector:
    """Stands in for the native BlazeFace graph: returns scripted faces, or raises."""

    def __init__(self, script: list[list[Face] | Exception]) -> None:
        self.script = list(script)

    def detect(self, image_bgr):
        step = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        if isinstance(step, Exception):
            raise step
        return step

    def close(self) -> None:
        pass


class NoFaces(ScriptedDetector):
    def __init__(self) -> None:
        super().__init__([[]])


def scripted_finder(script) -> FaceFinder:
    return FaceFinder(close_range=ScriptedDetector(script), wide=NoFaces())  # type: ignore[arg-type]


def test_every_labelled_face_of_the_quality_set_is_anonymized(finder, quality_set,
                                                              load_quality_image):
    missed = []
    for item in quality_set:
        image, labels = load_quality_image(item["name"])
        result = FrameAnonymizer(finder=finder).process(image)
        assert not result.is_whole_frame_blurred
        for box in labels:
            if not is_anonymized(image, result.image, box):
                missed.append((item["name"], box))
        if not labels:
            assert result.faces == (), f"false face on {item['name']}"
    assert missed == []


def test_anonymize_jpeg_returns_a_metadata_free_jpeg_with_the_face_hidden(load_quality_image):
    image, labels = load_quality_image("webcam_second_person_0")
    output = anonymize_jpeg(encode_jpeg(image, quality=95))
    assert output[:3] == b"\xff\xd8\xff" and b"Exif" not in output
    decoded = decode_image(output)
    for box in labels:
        assert is_anonymized(image, decoded, box)
    # Background far from any face keeps its detail (only JPEG noise changes it).
    assert region_changed(image, decoded, (0, 400, 200, 480)) < 6


def test_anonymize_jpeg_refuses_what_it_cannot_decode():
    with pytest.raises(UnsupportedFormat):
        anonymize_jpeg(b"GIF89a....")


def test_detector_error_blurs_the_whole_frame(load_quality_image):
    image, _ = load_quality_image("astronaut")
    finder = scripted_finder([DetectionFailed("native graph crashed")])
    result = FrameAnonymizer(finder=finder).process(image)
    assert result.is_whole_frame_blurred and result.whole_frame_reason == "detector_error"
    assert detail(result.image, (0, 0, 512, 512)) < 0.02 * detail(image, (0, 0, 512, 512))


def test_a_face_lost_for_a_frame_stays_hidden(load_quality_image):
    image, _ = load_quality_image("astronaut")
    face = Face(box=(177, 68, 273, 180), score=0.9)
    policy = AnonymizationPolicy(persistence_frames=2)
    anonymizer = FrameAnonymizer(policy, finder=scripted_finder([[face], [], [], [], []]))
    results = [anonymizer.process(image) for _ in range(4)]
    changed = [region_changed(image, r.image, face.box) > 10 for r in results]
    assert changed == [True, True, True, False]  # seen, then held for 2 frames


def test_tracker_matches_a_moving_face_and_forgets_it_after_the_window():
    tracker = FaceTracker(persistence_frames=1)
    first = Face(box=(100, 100, 200, 200), score=0.9)
    moved = Face(box=(110, 100, 210, 200), score=0.9)
    assert tracker.update([first]) == [first]
    assert tracker.update([moved]) == [moved]  # same face: not held twice
    assert tracker.update([]) == [moved]
    assert tracker.update([]) == []


def test_policy_can_blur_the_whole_frame_when_no_face_is_found(finder, load_quality_image):
    image, _ = load_quality_image("coffee")
    policy = AnonymizationPolicy(blur_frame_when_no_face=True)
    result = FrameAnonymizer(policy, finder=finder).process(image)
    assert result.is_whole_frame_blurred and result.whole_frame_reason == "no_face_found"
    default = FrameAnonymizer(finder=finder).process(image)
    assert not default.is_whole_frame_blurred
    assert np.array_equal(default.image, image)


def test_unanalysable_array_is_never_returned_raw():
    result = FrameAnonymizer(finder=scripted_finder([[]])).process(
        np.random.default_rng(0).random((48, 64, 3))
    )
    assert result.is_whole_frame_blurred and result.whole_frame_reason == "unanalysable_frame"
    assert result.image.dtype == np.uint8 and not result.image.any()


def test_array_without_pixels_is_a_corrupt_image():
    with pytest.raises(CorruptImage, match=r"shape \(0, 0, 3\)"):
        FrameAnonymizer(finder=scripted_finder([[]])).process(np.zeros((0, 0, 3), np.uint8))


@pytest.mark.parametrize("shape", [(1, 1), (1, 1, 3), (7, 5, 4), (48, 64), (4096, 1, 3),
                                   (1, 4096, 3)])
def test_tiny_grey_and_alpha_frames_are_processed(finder, shape):
    frame = np.full(shape, 120, np.uint8)
    result = FrameAnonymizer(finder=finder).process(frame)
    assert result.image.shape == (*shape[:2], 3)
    assert not result.is_whole_frame_blurred


def test_sixteen_bit_frame_is_converted(finder):
    result = FrameAnonymizer(finder=finder).process(np.full((32, 32, 3), 65535, np.uint16))
    assert result.image.dtype == np.uint8 and result.image.min() == 255


def test_wide_detector_on_a_cadence_still_runs_at_a_scene_cut(finder, load_quality_image):
    coffee, _ = load_quality_image("coffee")
    group, labels = load_quality_image("group_2")
    anonymizer = FrameAnonymizer(finder=finder, wide_every_n_frames=10)
    anonymizer.process(coffee)
    result = anonymizer.process(group)  # cut: CenterFace must not wait 9 frames
    for box in labels:
        assert is_anonymized(group, result.image, box)


def test_centerface_rejects_a_non_bgr_array():
    with CenterFaceDetector() as detector, pytest.raises(DetectionFailed, match="BGR uint8"):
        detector.detect(np.zeros((10, 10), np.uint8))


def test_centerface_reports_a_model_it_cannot_load(tmp_path):
    broken = tmp_path / "centerface.onnx"
    broken.write_bytes(b"not a model")
    with pytest.raises(ModelUnavailable, match="Could not load face model .*sha256 in MODELS.md"):
        CenterFaceDetector(model_path=broken)


@pytest.mark.parametrize(("group_name", "empty_name"), [
    ("group_1", "landscape_001"),
    ("dark_group_0", "dark_landscape_001"),  # a dark face entering a dark room
])
def test_wide_detector_on_a_cadence_runs_when_someone_appears_in_a_still_scene(
    finder, load_quality_image, group_name, empty_name
):
    group, labels = load_quality_image(group_name)
    empty, _ = load_quality_image(empty_name)
    empty = np.ascontiguousarray(cv2.resize(empty, (group.shape[1], group.shape[0])))
    x1, y1, x2, y2 = min(labels, key=lambda box: box[2] - box[0])  # the smallest face
    pad = (x2 - x1) // 2
    arrived = empty.copy()
    patch = (slice(max(0, y1 - pad), y2 + pad), slice(max(0, x1 - pad), x2 + pad))
    arrived[patch] = group[patch]
    anonymizer = FrameAnonymizer(finder=finder, wide_every_n_frames=25)
    for _ in range(3):
        anonymizer.process(empty)
    runs_before = anonymizer.wide_runs
    result = anonymizer.process(arrived)
    assert anonymizer.wide_runs == runs_before + 1
    assert is_anonymized(arrived, result.image, (x1, y1, x2, y2))


def test_detectors_are_loaded_once_per_process():
    assert shared_face_finder() is shared_face_finder()
    assert FrameAnonymizer().finder is FrameAnonymizer().finder


def test_detected_faces_leave_out_faces_held_by_tracking(load_quality_image):
    image, _ = load_quality_image("astronaut")
    face = Face(box=(177, 68, 273, 180), score=0.9)
    anonymizer = FrameAnonymizer(finder=scripted_finder([[face], []]))
    seen = anonymizer.process(image)
    lost = anonymizer.process(image)
    assert seen.detected_faces == (face,) and seen.faces == (face,)
    # Still hidden for the persistence window, but nobody saw it in this frame.
    assert lost.faces == (face,) and lost.detected_faces == ()


def test_detected_faces_leave_out_centerface_faces_held_between_its_runs(
    finder, load_quality_image
):
    image, labels = load_quality_image("group_1")
    anonymizer = FrameAnonymizer(finder=finder, wide_every_n_frames=25)
    first = anonymizer.process(image)
    assert first.detected_faces == first.faces  # CenterFace looked at this very frame
    later = anonymizer.process(image)  # no change: only short range runs
    for box in labels:
        assert is_anonymized(image, later.image, box)
    # Short range misses some of the small faces CenterFace found a frame ago.
    assert len(later.detected_faces) < len(later.faces)


def test_in_view_faces_keep_centerface_faces_but_not_faces_held_by_tracking(
    finder, load_quality_image
):
    image, labels = load_quality_image("group_1")
    anonymizer = FrameAnonymizer(finder=finder, wide_every_n_frames=25)
    first = anonymizer.process(image)
    later = anonymizer.process(image)  # no change: CenterFace's faces are still in view
    assert len(later.in_view_faces) == len(first.faces) > len(later.detected_faces)

    face = Face(box=(177, 68, 273, 180), score=0.9)
    tracked = FrameAnonymizer(finder=scripted_finder([[face], []]))
    tracked.process(image)
    lost = tracked.process(image)
    assert lost.faces == (face,) and lost.in_view_faces == ()


def _carried(anonymizer: FrameAnonymizer, policy: AnonymizationPolicy, finder,
             every: int) -> FrameAnonymizer:
    """The anonymizer as the next task of a live stream sees it: through its snapshot,
    in another object (another process, in production)."""
    snapshot = anonymizer.snapshot()
    assert isinstance(snapshot.thumbnail, bytes)
    import json

    json.dumps(snapshot.state)  # stored as JSON beside the sealed thumbnail
    return FrameAnonymizer.restore(policy, snapshot, finder=finder, wide_every_n_frames=every)


def test_a_face_lost_for_a_frame_stays_hidden_across_a_snapshot(load_quality_image):
    image, _ = load_quality_image("astronaut")
    face = Face(box=(177, 68, 273, 180), score=0.9)
    policy = AnonymizationPolicy(persistence_frames=2)
    finder = scripted_finder([[face], [], [], [], []])
    anonymizer = FrameAnonymizer(policy, finder=finder)
    changed = []
    for _ in range(4):
        result = anonymizer.process(image)
        changed.append(region_changed(image, result.image, face.box) > 10)
        anonymizer = _carried(anonymizer, policy, finder, 1)
    assert changed == [True, True, True, False]  # as without the snapshots


def test_the_wide_cadence_and_its_scene_trigger_survive_a_snapshot(finder, load_quality_image):
    coffee, _ = load_quality_image("coffee")
    group, labels = load_quality_image("group_2")
    policy = AnonymizationPolicy()
    anonymizer = FrameAnonymizer(policy, finder=finder, wide_every_n_frames=3)
    anonymizer.process(coffee)
    runs = []
    for image in (coffee, coffee, coffee, group):
        anonymizer = _carried(anonymizer, policy, finder, 3)
        before = anonymizer.wide_runs
        result = anonymizer.process(image)
        runs.append(anonymizer.wide_runs - before)
    # Restored each time: every third frame, as without snapshots, and at once at the cut.
    assert runs == [0, 0, 1, 1]
    for box in labels:
        assert is_anonymized(group, result.image, box)


def test_an_unreadable_snapshot_starts_afresh_with_the_wide_detector(finder, load_quality_image):
    from monitoring.vision.pipeline import AnonymizerSnapshot

    image, _ = load_quality_image("coffee")
    for snapshot in (None, AnonymizerSnapshot(state={"version": 99}),
                     AnonymizerSnapshot(state={"version": 1, "tracks": "garbage"})):
        anonymizer = FrameAnonymizer.restore(
            AnonymizationPolicy(), snapshot, finder=finder, wide_every_n_frames=5
        )
        anonymizer.process(image)
        assert anonymizer.wide_runs == 1
