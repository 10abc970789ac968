"""Reviewers' decisions: recorded, audited, integrity-logged, each made once."""

from __future__ import annotations

import json
from unittest import mock

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from integrity.models import IntegrityLeaf
from monitoring.models import Incident
from reviews import services
from reviews.errors import IncidentAlreadyDecided, InvalidOutcome, ReviewClosed
from reviews.models import ReviewDecision
from tests import factories as f

pytestmark = pytest.mark.django_db


def test_confirming_an_incident_records_the_decision_and_an_audit_event(reviewer, incident):
    decision = services.incident_confirm(
        incident=incident, reviewer=reviewer, note="second face at 5:00"
    )
    incident.refresh_from_db()
    assert incident.status == Incident.Status.CONFIRMED
    assert decision.decision == ReviewDecision.Decision.CONFIRM
    event = AuditEvent.objects.get(action="review.incident_confirmed")
    assert event.actor == reviewer
    assert event.target == f"incident:{incident.pk}"
    assert event.reason == "second face at 5:00"
    assert event.course == incident.session.exam.course
    leaf = IntegrityLeaf.objects.get(kind="review.decision")
    assert f'"record":"review_decision","record_id":{decision.pk}' in leaf.body
    assert "second face" not in leaf.body  # the note, free text, stays out of the log


def test_an_incident_is_decided_once(reviewer, incident):
    services.incident_dismiss(incident=incident, reviewer=reviewer, note="a poster")
    with pytest.raises(IncidentAlreadyDecided, match=f"Incident {incident.pk} is already dismiss"):
        services.incident_confirm(incident=incident, reviewer=reviewer)
    assert ReviewDecision.objects.count() == 1


def test_closing_the_review_is_audited_and_freezes_decisions(reviewer, incident):
    services.review_close(
        session=incident.session, reviewer=reviewer, outcome="close_violation", note="clear"
    )
    assert AuditEvent.objects.filter(action="review.closed", actor=reviewer).count() == 1
    with pytest.raises(ReviewClosed, match="is closed"):
        services.incident_dismiss(incident=incident, reviewer=reviewer)
    with pytest.raises(ReviewClosed, match="cannot be closed twice"):
        services.review_close(session=incident.session, reviewer=reviewer, outcome="close_clear")


def test_closing_with_an_unknown_outcome_is_refused(reviewer, incident):
    with pytest.raises(InvalidOutcome, match="'confirm' is not one of"):
        services.review_close(session=incident.session, reviewer=reviewer, outcome="confirm")


def test_bulk_dismiss_skips_decided_incidents(reviewer, incident):
    other = f.IncidentFactory(session=incident.session, started_at=incident.started_at)
    services.incident_confirm(incident=incident, reviewer=reviewer)
    count = services.incidents_bulk_dismiss(
        incidents=[incident, other], reviewer=reviewer, note="bulk"
    )
    assert count == 1
    other.refresh_from_db()
    assert other.status == Incident.Status.DISMISSED
    assert AuditEvent.objects.filter(action="review.incident_dismissed").count() == 1


def test_bulk_dismiss_logs_each_incident_it_decides(reviewer, incident):
    other = f.IncidentFactory(session=incident.session, started_at=incident.started_at)
    services.incidents_bulk_dismiss(incidents=[incident, other], reviewer=reviewer, note="bulk")
    logged = [
        json.loads(body)["data"]["record_id"]
        for body in IntegrityLeaf.objects.filter(kind__startswith="incident.").values_list(
            "body", flat=True
        )
    ]
    assert sorted(logged) == sorted([incident.pk, other.pk])


def test_reviewer_decides_through_the_page(client, reviewer, incident):
    client.force_login(reviewer)
    response = client.post(
        reverse("reviews:decide", args=[incident.pk]),
        {"decision": "dismiss", "note": "the sibling walked by"},
    )
    assert response.status_code == 302
    incident.refresh_from_db()
    assert incident.status == Incident.Status.DISMISSED
    page = client.get(response["Location"])
    assert "the sibling walked by" in page.content.decode()


def test_reviewer_closes_through_the_page(client, reviewer, incident):
    client.force_login(reviewer)
    response = client.post(
        reverse("reviews:close", args=[incident.session_id]),
        {"outcome": "close_clear", "note": "nothing wrong"},
    )
    assert response.status_code == 302
    assert ReviewDecision.objects.get().decision == "close_clear"
    page = client.get(response["Location"]).content.decode()
    assert "Close review: no violation" in page


def test_every_decision_and_appeal_reaches_the_integrity_log(reviewer, student, incident):
    services.incident_dismiss(incident=incident, reviewer=reviewer, note="")
    services.review_close(session=incident.session, reviewer=reviewer, outcome="close_clear")
    services.appeal_submit(session=incident.session, student=student, text="why not")
    kinds = list(
        IntegrityLeaf.objects.filter(session_id=incident.session_id)
        .exclude(kind="audit")
        .order_by("index")
        .values_list("kind", flat=True)
    )
    assert kinds[-3:] == ["review.decision", "review.decision", "review.appeal"]
    # Free text never goes to the log, which keeps its leaves forever.
    assert not IntegrityLeaf.objects.filter(body__contains="why not").exists()


def test_a_failing_integrity_append_rolls_the_decision_back(reviewer, incident):
    with mock.patch(
        "reviews.services.integrity_log_decision", side_effect=RuntimeError("log down")
    ):
        with pytest.raises(RuntimeError, match="log down"):
            services.incident_confirm(incident=incident, reviewer=reviewer)
    incident.refresh_from_db()
    assert incident.status == Incident.Status.PENDING
    assert not ReviewDecision.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="review.").exists()
