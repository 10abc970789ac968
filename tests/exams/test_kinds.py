"""The one registry of checks and incident kinds, and the places that read it."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.exceptions import ValidationError

from exams import kinds
from exams.management.commands.kinds_doc import kinds_markdown
from exams.models import Check, validate_suspicion_weights, validate_waivable_checks
from monitoring.models import Incident
from monitoring.services import BROWSER_EVENTS
from monitoring.vision import rules
from reviews.scoring import score_from_aggregates


def test_every_kind_names_a_check_of_the_registry_and_has_words_for_people():
    for kind in kinds.INCIDENT_KINDS.values():
        assert kind.check in kinds.CHECKS
        assert kind.label and kind.description.endswith(".")
        assert kind.default_severity in kinds.SEVERITIES
        assert 0 <= kind.default_weight <= 100


def test_models_vision_and_stream_use_the_registry_names():
    assert set(Incident.Kind.values) == set(kinds.INCIDENT_KINDS)
    assert set(Check.values) == set(kinds.CHECKS)
    assert {str(c) for c in kinds.ANALYSED_CHECKS} == rules.CHECKS
    assert {kind for kind, _ in BROWSER_EVENTS.values()} <= set(kinds.INCIDENT_KINDS)
    for name in rules.CHECKS:
        assert rules._BASE_SEVERITY[name] == kinds.INCIDENT_KINDS[name].default_severity


def test_a_stopped_camera_counts_under_the_camera_check_not_the_browser_one():
    assert kinds.KIND_CHECK["camera_ended"] == kinds.Check.CAMERA_BLOCKED
    score = score_from_aggregates(
        [("camera_ended", "medium", 1, 1.0)], weights=None,
        enabled_checks=["browser"], disabled_checks=[],
    )
    assert score.total == 0
    assert score.terms[0].reason == "this check is off for the exam"
    assert score.terms[0].label == "Camera stopped"


def test_an_accommodation_cannot_waive_a_check_with_no_innocent_cause():
    validate_waivable_checks(["speech", "looking_away"])
    with pytest.raises(ValidationError, match="cannot switch off camera_frozen"):
        validate_waivable_checks(["camera_frozen"])
    with pytest.raises(ValidationError, match="Unknown check"):
        validate_waivable_checks(["telepathy"])


def test_suspicion_weights_name_registered_kinds_only():
    validate_suspicion_weights({"tab_hidden": 0.5})
    with pytest.raises(ValidationError, match="Unknown incident kind 'camera_off'"):
        validate_suspicion_weights({"camera_off": 1})


def test_the_docs_page_of_kinds_is_the_registry():
    page = Path(__file__).resolve().parents[2] / "docs" / "kinds.md"
    assert page.read_text() == kinds_markdown(), "run `manage.py kinds_doc > docs/kinds.md`"
