"""Incidents the stream opens are written to the tamper-evident log, in the same transaction."""

from __future__ import annotations

import json
import time

from django.core.management import call_command

from monitoring import services
from monitoring.models import Receipt
from reviews.integrity_models import IntegrityLeaf
from reviews.models import Incident
from tests.monitoring import helpers as h


def _event(session, seq, kind, at_ms):
    services.receipt_claim_new(
        session_id=session.pk, stream=Receipt.Stream.EVENT, seq=seq, captured_at=None,
        reenqueue_after_s=60,
    )
    assert services.event_process(session_id=session.pk, seq=seq, kind=kind, captured_ms=at_ms)


def test_browser_incidents_from_the_stream_are_logged(session, student):
    running = h.start_session(session, student)
    now = time.time() * 1000
    _event(running, 1, "tab_hidden", now)
    _event(running, 2, "paste", now + 1000)
    logged = [
        json.loads(body)["data"]
        for body in IntegrityLeaf.objects.filter(
            session_id=running.pk, kind="incident.created"
        ).values_list("body", flat=True)
    ]
    incidents = Incident.objects.filter(session=running).order_by("pk")
    assert [entry["incident_id"] for entry in logged] == [i.pk for i in incidents]
    assert [entry["incident_kind"] for entry in logged] == ["tab_hidden", "copy_paste"]
    call_command("verify_integrity")
