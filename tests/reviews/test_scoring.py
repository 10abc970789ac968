"""The suspicion score: explained, configurable per exam, respecting accommodations."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError

from exams.kinds import DEFAULT_WEIGHTS, KIND_CHECK
from exams.models import Enrollment
from monitoring.models import Incident
from reviews import selectors
from reviews.scoring import score_from_aggregates
from tests import factories as f

pytestmark = pytest.mark.django_db


def _add(session, kind, severity="medium", score=1.0, status="pending"):
    return f.IncidentFactory(
        session=session,
        kind=kind,
        severity=severity,
        score=score,
        status=status,
        started_at=session.started_at + timedelta(minutes=1),
    )


def test_every_incident_kind_has_a_weight_and_a_check():
    assert set(DEFAULT_WEIGHTS) == set(Incident.Kind.values)
    assert set(KIND_CHECK) == set(Incident.Kind.values)


def test_score_is_weight_times_severity_times_confidence(finished_session):
    _add(finished_session, "multiple_faces", severity="high", score=0.5)  # 5 × 2 × 0.5 = 5
    _add(finished_session, "tab_hidden", severity="low", score=1.0)  # 1.5 × 0.5 × 1 = 0.75
    score = selectors.session_score(session=finished_session)
    assert score.total == 5.8
    assert [(t.kind, t.count, t.weight, t.points) for t in score.terms] == [
        ("multiple_faces", 1, 5.0, 5.0),
        ("tab_hidden", 1, 1.5, 0.8),
    ]


def test_dismissed_incidents_do_not_count(finished_session):
    _add(finished_session, "no_face", status="dismissed")
    assert selectors.session_score(session=finished_session).total == 0


def test_exam_weights_override_the_defaults(finished_session):
    exam = finished_session.exam
    exam.suspicion_weights = {"no_face": 10}
    exam.save()
    _add(finished_session, "no_face")
    assert selectors.session_score(session=finished_session).total == 10


def test_a_check_switched_off_by_accommodation_never_counts(finished_session, student):
    Enrollment.objects.filter(student=student).update(disabled_checks=["looking_away"])
    _add(finished_session, "looking_away", severity="high")
    _add(finished_session, "no_face")
    score = selectors.session_score(session=finished_session)
    assert score.total == 3.0
    excluded = score.excluded_terms
    assert [t.kind for t in excluded] == ["looking_away"]
    assert "accommodation" in excluded[0].reason


def test_accommodation_for_browser_checks_covers_every_browser_event(finished_session, student):
    Enrollment.objects.filter(student=student).update(disabled_checks=["browser"])
    for kind in ("tab_hidden", "window_blur", "copy_paste", "fullscreen_exit"):
        _add(finished_session, kind)
    assert selectors.session_score(session=finished_session).total == 0


def test_a_check_off_for_the_exam_does_not_count(finished_session):
    exam = finished_session.exam
    exam.enabled_checks = ["no_face"]
    exam.save()
    _add(finished_session, "speech")
    assert selectors.session_score(session=finished_session).total == 0


def test_queue_and_timeline_agree_with_the_accommodation(
    client, reviewer, finished_session, student
):
    Enrollment.objects.filter(student=student).update(disabled_checks=["no_face"])
    _add(finished_session, "no_face", severity="high")
    rows = selectors.review_queue(reviewer=reviewer)
    assert rows[0].score.total == 0
    client.force_login(reviewer)
    from django.urls import reverse

    page = client.get(reverse("reviews:timeline", args=[finished_session.pk])).content.decode()
    assert "No: accommodation" in page


def test_queue_is_sorted_by_score_and_filterable(reviewer, exam, finished_session):
    calm = f.ExamSessionFactory(
        exam=exam, state="submitted", started_at=finished_session.started_at
    )
    _add(calm, "window_blur", severity="low")
    _add(finished_session, "multiple_faces", severity="high")
    rows = selectors.review_queue(reviewer=reviewer)
    assert [r.session.pk for r in rows] == [finished_session.pk, calm.pk]
    only_blur = selectors.review_queue(reviewer=reviewer, kind="window_blur")
    assert [r.session.pk for r in only_blur] == [calm.pk]
    assert selectors.review_queue(reviewer=reviewer, status="close_clear") == []


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        ([1], "must be an object"),
        ({"telepathy": 1}, "Unknown incident kind 'telepathy'"),
        ({"no_face": "high"}, "must be a number"),
        ({"no_face": -1}, "from 0 to 100"),
    ],
)
def test_exam_weights_are_validated(exam, weights, message):
    exam.suspicion_weights = weights
    with pytest.raises(ValidationError, match=message):
        exam.full_clean()


def test_unknown_kinds_in_aggregates_add_nothing():
    score = score_from_aggregates(
        [("mystery", "high", 3, 3.0)], weights={}, enabled_checks=[], disabled_checks=[]
    )
    assert score.total == 0
