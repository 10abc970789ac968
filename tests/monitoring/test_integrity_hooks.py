"""Incidents the stream opens are written to the tamper-evident log, in the same transaction."""

from __future__ import annotations

import json
import time

from botocore.exceptions import EndpointConnectionError
from django.core.files.storage import FileSystemStorage
from django.core.management import call_command

from integrity.models import IntegrityLeaf
from monitoring import services
from monitoring.models import Incident, Receipt
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
    assert [entry["record_id"] for entry in logged] == [i.pk for i in incidents]
    assert [entry["state"]["kind"] for entry in logged] == ["tab_hidden", "copy_paste"]
    call_command("verify_integrity")


class UnreachableStore(FileSystemStorage):
    """A stand-in for an object store that cannot be reached (the outside world)."""

    def exists(self, name):
        raise EndpointConnectionError(endpoint_url="http://object-store.invalid")

    def _save(self, name, content):
        raise EndpointConnectionError(endpoint_url="http://object-store.invalid")


def test_a_frame_during_an_outage_is_spooled_then_stored(
    session, student, settings, tmp_path, django_capture_on_commit_callbacks
):
    from monitoring import tasks
    from monitoring.evidence import evidence_spool_sync
    from monitoring.models import Evidence, SpooledEvidence

    running = h.start_session(session, student)
    settings.PROCTOR_SPOOL_DIR = tmp_path / "spool"
    working = settings.STORAGES["default"]
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": f"{__name__}.UnreachableStore",
                    "OPTIONS": {"location": str(tmp_path / "store")}},
    }
    tasks.process_frame.apply(kwargs={
        "session_id": str(running.pk), "seq": 1, "captured_ms": 1_800_000_000_000.0,
        "image": h.empty_jpeg(),
    }).get()
    assert SpooledEvidence.objects.filter(session=running, seq=1).exists()
    assert not Evidence.objects.exists()  # nothing shown before it is durable

    settings.STORAGES = {**settings.STORAGES, "default": working}  # the store is back
    with django_capture_on_commit_callbacks(execute=True):
        assert evidence_spool_sync().stored == 1
    evidence = Evidence.objects.get(session=running, seq=1)
    assert IntegrityLeaf.objects.filter(kind="evidence.stored", session_id=running.pk).exists()
    assert evidence.sha256
