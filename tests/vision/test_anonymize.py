"""Anonymization hides the face, keeps the background, and cannot be undone by a detector."""

from __future__ import annotations

import numpy as np
import pytest

from monitoring.vision.anonymize import (
    MASK_COLOUR_BGR,
    AnonymizationPolicy,
    anonymize_faces,
    blur_whole_frame,
    expand_box,
)
from monitoring.vision.detect import Face, iou
from monitoring.vision.errors import InvalidPolicy

from .conftest import detail, is_anonymized, region_changed

FACE = Face(box=(177, 68, 273, 180), score=0.9)  # the astronaut's face


@pytest.fixture(scope="module")
def astronaut(load_quality_image):
    image, _ = load_quality_image("astronaut")
    return image


@pytest.mark.parametrize("method", ["blur", "pixelate", "mask"])
@pytest.mark.parametrize("shape", ["ellipse", "box"])
def test_face_region_changes_and_background_is_kept(astronaut, method, shape):
    policy = AnonymizationPolicy(method=method, shape=shape)
    output = anonymize_faces(astronaut, [FACE], policy)
    assert region_changed(astronaut, output, FACE.box) > 10
    assert detail(output, FACE.box) < 0.2 * detail(astronaut, FACE.box) or method == "pixelate"
    # The hidden region starts head_top face heights above the face box (hair), and the
    # soft-edged ellipse reaches a little past the margin (0.85 of the box size from its
    # centre) so that the box's corners stay fully covered.
    reach = policy.margin if shape == "box" else 0.36
    x1, y1, x2, y2 = FACE.box
    head = (x1, round(y1 - policy.head_top * (y2 - y1)), x2, y2)
    x1, y1, x2, y2 = expand_box(head, reach, 512, 512)
    outside = np.ones(astronaut.shape[:2], bool)
    outside[y1:y2, x1:x2] = False
    assert np.array_equal(output[outside], astronaut[outside])
    assert output is not astronaut and region_changed(astronaut, astronaut, FACE.box) == 0


def test_pixelation_leaves_a_fixed_number_of_blocks_across_the_face(astronaut):
    policy = AnonymizationPolicy(method="pixelate", shape="box", strength=5)
    output = anonymize_faces(astronaut, [FACE], policy)
    x1, y1, x2, y2 = FACE.box
    row = output[(y1 + y2) // 2, x1:x2].astype(int)
    changes = int(np.count_nonzero(np.any(np.diff(row, axis=0) != 0, axis=1)))
    # 13 - strength = 8 blocks across the face: 7 to 9 edges inside its box.
    assert 6 <= changes <= 9


def test_mask_fills_with_a_constant_not_the_face_colour(astronaut):
    output = anonymize_faces(astronaut, [FACE], AnonymizationPolicy(method="mask", shape="box"))
    x1, y1, x2, y2 = FACE.box
    assert np.all(output[y1:y2, x1:x2] == np.array(MASK_COLOUR_BGR, np.uint8))


def test_ellipse_covers_the_face_box_corners_even_without_margin(astronaut):
    policy = AnonymizationPolicy(method="mask", margin=0.0)
    output = anonymize_faces(astronaut, [FACE], policy)
    x1, y1, x2, y2 = FACE.box
    for x, y in ((x1 + 1, y1 + 1), (x2 - 2, y1 + 1), (x1 + 1, y2 - 2), (x2 - 2, y2 - 2)):
        assert tuple(output[y, x]) == MASK_COLOUR_BGR


def test_stronger_blur_leaves_less_detail(astronaut):
    light = anonymize_faces(astronaut, [FACE], AnonymizationPolicy(strength=1))
    strong = anonymize_faces(astronaut, [FACE], AnonymizationPolicy(strength=10))
    assert detail(strong, FACE.box) < detail(light, FACE.box)


def test_face_at_the_image_border_is_clipped_not_an_error(astronaut):
    edge = Face(box=(480, 480, 512, 512), score=0.5)
    output = anonymize_faces(astronaut, [edge])
    assert region_changed(astronaut, output, edge.box) > 0


def test_whole_frame_blur_removes_all_detail(astronaut):
    output = blur_whole_frame(astronaut)
    assert output.shape == astronaut.shape
    assert detail(output, (0, 0, 512, 512)) < 0.02 * detail(astronaut, (0, 0, 512, 512))


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [("method", "swirl", "Unknown anonymization method 'swirl'"),
     ("shape", "star", "Unknown shape 'star'"),
     ("strength", 0, "between 1 and 10, got 0"),
     ("margin", -0.1, "between 0 and 2 .* got -0.1"),
     ("persistence_frames", -1, "between 0 and 300, got -1"),
     ("head_top", 1.5, "between 0 and 1 .* got 1.5")],
)
def test_invalid_policy_values_are_refused_with_the_value(field, value, message):
    with pytest.raises(InvalidPolicy, match=message):
        AnonymizationPolicy(**{field: value})


IRREVERSIBILITY_IMAGES = ["astronaut", "megamind_030", "group_1", "webcam_second_person_1"]


def redetections(finder, image, policy):
    """Faces the detectors find again inside the regions they hid, with the output."""
    faces = finder.detect(image)
    output = anonymize_faces(image, faces, policy)
    hidden = [expand_box(f.box, policy.margin, image.shape[1], image.shape[0]) for f in faces]
    again = [found for found in finder.detect(output)
             if any(iou(found.box, region) > 0.1 for region in hidden)]
    return faces, output, again


@pytest.mark.parametrize("method", ["blur", "mask"])
@pytest.mark.parametrize("name", IRREVERSIBILITY_IMAGES)
def test_detectors_find_no_face_in_regions_hidden_as_boxes(
    finder, load_quality_image, name, method
):
    image, labels = load_quality_image(name)
    faces, _, again = redetections(finder, image, AnonymizationPolicy(method=method, shape="box"))
    assert len(faces) >= len(labels) > 0
    assert again == []


@pytest.mark.parametrize("method", ["blur", "mask"])
@pytest.mark.parametrize("name", IRREVERSIBILITY_IMAGES)
def test_what_detectors_find_again_in_hidden_regions_is_a_featureless_blob(
    finder, load_quality_image, name, method
):
    # Detectors can fire on a smooth head-shaped oval, even a solid one, so the strict "no
    # detection" holds for boxes (above; 3 of 69 hidden faces are found again as ellipses on
    # the quality set, see benchmarks/quality.py). For ellipses we check that the face
    # under whatever is found again has no detail left.
    image, _ = load_quality_image(name)
    faces, output, again = redetections(finder, image, AnonymizationPolicy(method=method))
    for found in again:
        for face in faces:
            if iou(found.box, face.box) > 0.1:
                assert is_anonymized(image, output, face.box), (found, face)
