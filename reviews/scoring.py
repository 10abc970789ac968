"""The suspicion score: how much a session's incidents should worry a reviewer.

Pure functions on plain values (no model imports), so that the arithmetic is testable
alone. The default weights and the check behind each kind come from exams/kinds.py.

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

from exams.kinds import DEFAULT_WEIGHTS, KIND_CHECK, kind_label

SEVERITY_FACTORS: dict[str, float] = {"low": 0.5, "medium": 1.0, "high": 2.0}


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
                label=(labels or {}).get(kind) or kind_label(kind),
                count=int(count),
                weight=effective.get(kind, 0.0),
                points=round(points, 1),
                counted=counted,
                reason=reason,
            )
        )
    return Score(total=round(total, 1), terms=tuple(terms))
