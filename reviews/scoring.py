"""The suspicion score: how much a session's incidents should worry a reviewer.

Pure functions on plain values (no model imports), so that ``exams.models`` can use the
weight validator without an import cycle and so that the arithmetic is testable alone.

A session's score is the sum over its counted incidents of

    weight(kind) × severity factor × confidence (Incident.score, 0 to 1)

and every term is kept, grouped by kind, so a page can show *why* the number is what it
is. An incident does not count when a reviewer dismissed it, when its check is switched
off for the exam, or when the student's accommodation switches its check off
(``Enrollment.disabled_checks``): a check switched off never counts against anyone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError

# Default weight of one incident of each kind, before severity and confidence. Browser
# events are cheap to trigger innocently (a notification steals focus), so they weigh
# little; a second face or no face at all weighs most. An exam overrides any of these in
# ``Exam.suspicion_weights``.
DEFAULT_WEIGHTS: dict[str, float] = {
    "no_face": 3.0,
    "multiple_faces": 5.0,
    "looking_away": 2.0,
    "camera_blocked": 3.0,
    "camera_frozen": 2.0,
    "speech": 2.0,
    "tab_hidden": 1.5,
    "window_blur": 1.0,
    "fullscreen_exit": 1.0,
    "copy_paste": 1.5,
    "context_menu": 0.5,
    "page_reload": 0.5,
    "camera_ended": 3.0,
}

SEVERITY_FACTORS: dict[str, float] = {"low": 0.5, "medium": 1.0, "high": 2.0}

# Which exam check (exams.models.Check) raised each incident kind. Switching that check
# off for an exam or a student removes the kind from the score. A camera that stopped is
# what "camera blocked" watches for, so an accommodation for that check covers it too.
KIND_CHECK: dict[str, str] = {
    "no_face": "no_face",
    "multiple_faces": "multiple_faces",
    "looking_away": "looking_away",
    "camera_blocked": "camera_blocked",
    "camera_frozen": "camera_frozen",
    "speech": "speech",
    "tab_hidden": "browser",
    "window_blur": "browser",
    "fullscreen_exit": "browser",
    "copy_paste": "browser",
    "context_menu": "browser",
    "page_reload": "browser",
    "camera_ended": "camera_blocked",
}

BROWSER_KINDS = frozenset(kind for kind, check in KIND_CHECK.items() if check == "browser")

MAX_WEIGHT = 100.0


def validate_suspicion_weights(value: object) -> None:
    """Validator for ``Exam.suspicion_weights``: ``{kind: weight}``, weights 0 to 100."""
    if not isinstance(value, dict):
        raise ValidationError(
            "Suspicion weights must be an object mapping incident kinds to numbers, "
            f"e.g. {{\"no_face\": 3}}; got {type(value).__name__}."
        )
    for kind, weight in value.items():
        if kind not in DEFAULT_WEIGHTS:
            raise ValidationError(
                f"Unknown incident kind {kind!r} in suspicion weights; use one of "
                f"{', '.join(sorted(DEFAULT_WEIGHTS))}."
            )
        if isinstance(weight, bool) or not isinstance(weight, int | float):
            raise ValidationError(f"The weight of {kind!r} must be a number, not {weight!r}.")
        if not 0 <= weight <= MAX_WEIGHT:
            raise ValidationError(
                f"The weight of {kind!r} is {weight}; use a number from 0 to {MAX_WEIGHT:g}."
            )


def effective_weights(overrides: Mapping[str, float] | None) -> dict[str, float]:
    return {**DEFAULT_WEIGHTS, **{k: float(v) for k, v in (overrides or {}).items()}}


@dataclass(frozen=True)
class KindTerm:
    """The contribution of one incident kind to a score, for the explanation table."""

    kind: str
    label: str
    count: int
    weight: float
    points: float
    counted: bool
    reason: str = ""  # why it does not count, when it does not


@dataclass(frozen=True)
class Score:
    total: float
    terms: tuple[KindTerm, ...] = field(default_factory=tuple)

    @property
    def counted_terms(self) -> tuple[KindTerm, ...]:
        return tuple(t for t in self.terms if t.counted)

    @property
    def excluded_terms(self) -> tuple[KindTerm, ...]:
        return tuple(t for t in self.terms if not t.counted)


def score_from_aggregates(
    rows: Iterable[tuple[str, str, int, float]],
    *,
    weights: Mapping[str, float] | None,
    enabled_checks: Iterable[str],
    disabled_checks: Iterable[str],
    labels: Mapping[str, str] | None = None,
) -> Score:
    """Score one session from ``(kind, severity, count, sum of confidence)`` rows.

    The rows come from one ``GROUP BY kind, severity`` query over the session's incidents
    that are not dismissed (see reviews/selectors.py), so the cost does not grow with the
    number of incidents.
    """
    effective = effective_weights(weights)
    enabled = set(enabled_checks)
    disabled = set(disabled_checks)
    per_kind: dict[str, list[float]] = {}  # kind -> [count, points]
    for kind, severity, count, confidence_sum in rows:
        acc = per_kind.setdefault(kind, [0, 0.0])
        acc[0] += count
        acc[1] += (
            effective.get(kind, 0.0) * SEVERITY_FACTORS.get(severity, 1.0) * (confidence_sum or 0)
        )
    terms = []
    total = 0.0
    for kind in sorted(per_kind, key=lambda k: -per_kind[k][1]):
        count, points = per_kind[kind]
        check = KIND_CHECK.get(kind)
        reason = ""
        if check is not None and check in disabled:
            reason = "accommodation: this check is off for the student"
        elif check is not None and check not in enabled:
            reason = "this check is off for the exam"
        counted = not reason
        if counted:
            total += points
        terms.append(
            KindTerm(
                kind=kind,
                label=(labels or {}).get(kind, kind),
                count=int(count),
                weight=effective.get(kind, 0.0),
                points=round(points, 1),
                counted=counted,
                reason=reason,
            )
        )
    return Score(total=round(total, 1), terms=tuple(terms))
