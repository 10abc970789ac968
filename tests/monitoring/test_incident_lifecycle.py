"""The incident lifecycle: frames in flight at a session's end, nothing after it, evidence
that lies inside its incident's span, and every change in the integrity log."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from botocore.exceptions import EndpointConnectionError
from django.core.files.storage import FileSystemStorage
from django.utils import timezone

from exams import services as exam_services
from integrity.models import IntegrityLeaf
from monitoring import incidents as lifecycle
from monitoring import services, tasks
from monitoring.evidence import evidence_spool_sync, evidence_store
from monitoring.incidents import EVIDENCE_SPAN_MARGIN
from monitoring.models import (
    Evidence,
    FrameObservation,
    Incident,
    LiveState,
    Receipt,
    SpooledEvidence,
)
from tests import factories as f
from tests.monitoring import helpers as h

pytestmark = pytest.mark.django_db

MARGIN = EVIDENCE_SPAN_MARGIN
SECOND = timedelta(seconds=1)


@pytest.fixture
def running(session, student):
    """In progress since five minutes ago: frames below are captured within that time."""
    exam_services.session_consent(session=session, actor=student)
    exam_services.session_camera_check(session=session, actor=student)
    return exam_services.session_start(
        session=session, actor=student, now=timezone.now() - timedelta(minutes=5)
    )


def _at(session, t_s):
    return session.started_at + timedelta(seconds=10 + t_s)


def _process(session, seq, image, t_s):
    return tasks.process_frame.apply(kwargs={
        "session_id": str(session.pk), "seq": seq,
        "captured_ms": _at(session, t_s).timestamp() * 1000, "image": image,
    }).get()


def _stream(session, seconds, *, first_seq=1):
    """One frame per second: ``seconds`` maps t (s) to whether a face is in view."""
    for seq, (t_s, has_face) in enumerate(seconds, start=first_seq):
        image = h.face_jpeg(seq) if has_face else h.empty_jpeg(seed=seq)
        assert _process(session, seq, image, t_s)["processed"]


def _log_entries(incident):
    """How many integrity-log entries record a state of ``incident``."""
    bodies = IntegrityLeaf.objects.filter(
        session_id=incident.session_id, kind__startswith="incident."
    ).values_list("body", flat=True)
    return sum(json.loads(body)["data"]["record_id"] == incident.pk for body in bodies)


def _linked_seqs(incident):
    return sorted(Evidence.objects.filter(incident=incident).values_list("seq", flat=True))


# --- The session's end -------------------------------------------------------------------

def test_a_frame_in_flight_at_submit_extends_the_closed_incident(running, student):
    # Face at 0-2 s, nobody from 3 s: no_face opens at 8 s (its 5 s minimum).
    _stream(running, [(t, t < 3) for t in range(10)])
    (incident,) = Incident.objects.filter(session=running)
    exam_services.session_submit(session=running, actor=student)
    incident.refresh_from_db()
    assert incident.ended_at == _at(running, 9)  # the last frame analysed by then
    logged = _log_entries(incident)
    # Frames 11 and 12 were captured before the submit and analysed after it.
    _stream(running, [(10, False), (11, False)], first_seq=11)
    incident.refresh_from_db()
    assert incident.ended_at == _at(running, 11)
    assert Incident.objects.filter(session=running).count() == 1
    assert {11, 12} <= set(_linked_seqs(incident))
    assert _log_entries(incident) == logged + 2  # each later end is logged


def test_a_frame_in_flight_at_submit_opens_no_incident(running, student):
    # Nobody from 5 s: no_face would open at 10 s, but the session ends after 8 s.
    _stream(running, [(t, t < 5) for t in range(9)])
    exam_services.session_submit(session=running, actor=student)
    outcome = _process(running, 10, h.empty_jpeg(seed=10), 9)
    assert outcome["processed"] and outcome["incidents"] == []
    outcome = _process(running, 11, h.empty_jpeg(seed=11), 10)
    assert outcome["processed"] and outcome["incidents"] == []
    assert not Incident.objects.filter(session=running).exists()
    # Analysed and kept as evidence all the same: it was captured before the end.
    assert Evidence.objects.filter(session=running, seq=11).exists()


def test_the_rules_closing_an_incident_in_flight_end_it_at_its_last_sighting(
    running, student
):
    _stream(running, [(t, t < 3) for t in range(10)])
    exam_services.session_submit(session=running, actor=student)
    # The face is back on the frames in flight: the rules close the incident after their
    # 2 s gap, at the last frame without a face.
    _stream(running, [(10, True), (11, True), (12, True)], first_seq=11)
    incident = Incident.objects.get(session=running)
    assert incident.ended_at == _at(running, 9)
    assert LiveState.objects.get(session=running).rules_state["ended_incidents"] == {}
    assert 11 not in _linked_seqs(incident)


def test_a_frame_captured_after_the_end_stores_nothing(running, student):
    _stream(running, [(t, t < 3) for t in range(10)])
    ended = exam_services.session_submit(session=running, actor=student)
    incident = Incident.objects.get(session=running)
    before = (incident.ended_at, _log_entries(incident))
    late_s = (ended.ended_at - _at(running, 0)).total_seconds() + 1
    assert _process(running, 11, h.empty_jpeg(seed=11), late_s) == {
        "processed": False, "faces": 0, "incidents": [],
    }
    assert not Evidence.objects.filter(session=running, seq=11).exists()
    assert not FrameObservation.objects.filter(session=running, seq=11).exists()
    incident.refresh_from_db()
    assert (incident.ended_at, _log_entries(incident)) == before
    receipt = Receipt.objects.get(session=running, stream="frame", seq=11)
    assert receipt.failed_at is not None and "after the session ended" in receipt.failure
    # Done, so the page may drop it; not done twice.
    assert _process(running, 11, h.empty_jpeg(seed=11), late_s) == {"processed": False}


def test_a_browser_event_after_the_end_stores_nothing_and_one_in_flight_closes(
    running, student
):
    def event(seq, kind, at):
        services.receipt_claim_new(
            session_id=running.pk, stream="event", seq=seq, captured_at=None,
            reenqueue_after_s=60,
        )
        return services.event_process(
            session_id=running.pk, seq=seq, kind=kind, captured_ms=at.timestamp() * 1000
        )

    assert event(1, "tab_hidden", _at(running, 0))
    ended = exam_services.session_submit(session=running, actor=student)
    hidden = Incident.objects.get(session=running)
    assert hidden.ended_at == ended.ended_at  # no frame analysed: the session's end
    assert not event(2, "paste", ended.ended_at + SECOND)
    assert event(3, "paste", ended.ended_at - SECOND) is True  # in flight: opens nothing
    assert event(4, "tab_visible", _at(running, 4))  # in flight: ends it at its time
    assert list(Incident.objects.filter(session=running)) == [hidden]
    hidden.refresh_from_db()
    assert hidden.ended_at == _at(running, 4)
    assert "after the session ended" in Receipt.objects.get(stream="event", seq=2).failure


def test_the_socket_close_out_after_the_end_changes_nothing(running, student):
    _stream(running, [(t, t < 3) for t in range(10)])
    exam_services.session_submit(session=running, actor=student)
    incident = Incident.objects.get(session=running)
    logged = _log_entries(incident)
    assert tasks.finish_session.apply(kwargs={"session_id": str(running.pk)}).get() == 0
    incident.refresh_from_db()
    assert incident.ended_at == _at(running, 9) and _log_entries(incident) == logged


def test_the_socket_close_out_of_a_running_session_closes_nothing(running):
    _stream(running, [(t, t < 3) for t in range(10)])
    assert services.live_state_finish(session_id=running.pk) == 0
    assert Incident.objects.get(session=running).ended_at is None


# --- Evidence inside its incident's span --------------------------------------------------

def test_frames_after_an_incident_ends_are_not_its_evidence(running):
    # Nobody at 5-14 s. The rules close the incident 2 s after the face is back; the frames
    # of those 2 s were linked while it was open, and are let go when it closes at 14 s.
    _stream(running, [(t, not 5 <= t <= 14) for t in range(21)])
    (incident,) = Incident.objects.filter(session=running)
    assert (incident.started_at, incident.ended_at) == (_at(running, 5), _at(running, 14))
    linked = _linked_seqs(incident)
    assert linked == list(range(6, 16))  # t = 5 .. 14 s
    for evidence in Evidence.objects.filter(incident=incident):
        assert incident.started_at - MARGIN <= evidence.captured_at
        assert evidence.captured_at <= incident.ended_at + MARGIN


def test_evidence_just_outside_the_span_and_its_margin_is_not_linked(running):
    start = _at(running, 0)
    end = start + 10 * SECOND
    captured = {
        "before_margin": start - MARGIN - timedelta(milliseconds=1),
        "in_margin_before": start - MARGIN / 2,
        "inside": start + 5 * SECOND,
        "in_margin_after": end + MARGIN / 2,
        "after_margin": end + MARGIN + timedelta(milliseconds=1),
    }
    frames = {
        name: f.EvidenceFactory(session=running, seq=seq, captured_at=at)
        for seq, (name, at) in enumerate(captured.items(), start=1)
    }
    incident = lifecycle.incident_open(
        session=running, kind=Incident.Kind.NO_FACE, started_at=start,
        severity=Incident.Severity.MEDIUM, score=1.0, payload=b"{}",
    )
    # Open: everything from its start on may still belong to it.
    assert set(Evidence.objects.filter(incident=incident)) == {
        frames[name] for name in ("in_margin_before", "inside", "in_margin_after", "after_margin")
    }
    lifecycle.incident_close(incident=incident, ended_at=end)
    assert set(Evidence.objects.filter(incident=incident)) == {
        frames[name] for name in ("in_margin_before", "inside", "in_margin_after")
    }


def test_a_frame_let_go_at_a_close_goes_to_another_incident_that_holds_it(running):
    start = _at(running, 0)
    first = lifecycle.incident_open(
        session=running, kind=Incident.Kind.NO_FACE, started_at=start,
        severity=Incident.Severity.MEDIUM, score=1.0, payload=b"{}",
    )
    second = lifecycle.incident_open(
        session=running, kind=Incident.Kind.TAB_HIDDEN, started_at=start + 5 * SECOND,
        severity=Incident.Severity.LOW, score=1.0, payload=b"{}",
    )
    # Stored while both were open: the earlier started takes it.
    evidence_store(
        session=running, seq=1, captured_at=start + 8 * SECOND, content=b"\xff\xd8\xff\xd9",
        incident_id=first.pk,
    )
    lifecycle.incident_close(incident=first, ended_at=start + 6 * SECOND)
    assert Evidence.objects.get(seq=1).incident == second


class UnreachableStore(FileSystemStorage):
    """A stand-in for an object store that cannot be reached (the outside world)."""

    def exists(self, name):
        raise EndpointConnectionError(endpoint_url="http://object-store.invalid")

    def _save(self, name, content):
        raise EndpointConnectionError(endpoint_url="http://object-store.invalid")


def test_spooled_frames_keep_only_the_links_inside_their_incidents_span(
    running, settings, tmp_path
):
    settings.PROCTOR_SPOOL_DIR = tmp_path / "spool"
    working = settings.STORAGES["default"]
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": f"{__name__}.UnreachableStore",
                    "OPTIONS": {"location": str(tmp_path / "store")}},
    }
    start = _at(running, 0)
    incident = lifecycle.incident_open(
        session=running, kind=Incident.Kind.NO_FACE, started_at=start,
        severity=Incident.Severity.MEDIUM, score=1.0, payload=b"{}",
    )
    for seq, t_s in ((1, 1), (2, 3)):
        evidence_store(
            session=running, seq=seq, captured_at=start + t_s * SECOND,
            content=b"\xff\xd8\xff\xd9", incident_id=incident.pk,
        )
    # Spooled before the close, with the link made while the incident was open.
    lifecycle.incident_close(incident=incident, ended_at=start + 2 * SECOND)
    assert dict(SpooledEvidence.objects.values_list("seq", "incident_id")) == {
        1: incident.pk, 2: None,
    }
    # A link that no longer fits when the frame is finally stored is dropped then too.
    evidence_store(
        session=running, seq=3, captured_at=start + 4 * SECOND, content=b"\xff\xd8\xff\xd9",
        incident_id=incident.pk,
    )
    settings.STORAGES = {**settings.STORAGES, "default": working}
    assert evidence_spool_sync().stored == 3
    assert dict(Evidence.objects.values_list("seq", "incident_id")) == {
        1: incident.pk, 2: None, 3: None,
    }


# --- Every change logged ------------------------------------------------------------------

def test_incident_updates_and_closes_are_logged_only_when_something_changed(running):
    incident = lifecycle.incident_open(
        session=running, kind=Incident.Kind.NO_FACE, started_at=_at(running, 0),
        severity=Incident.Severity.MEDIUM, score=0.5, payload=b'{"evidence_seqs":[1]}',
    )
    assert _log_entries(incident) == 1
    assert not lifecycle.incident_update(
        incident=incident, severity="medium", score=0.5, payload=b'{"evidence_seqs":[1]}'
    )
    assert _log_entries(incident) == 1
    assert lifecycle.incident_update(
        incident=incident, severity="high", score=0.5, payload=b'{"evidence_seqs":[1]}'
    )
    assert lifecycle.incident_close(incident=incident, ended_at=_at(running, 30))
    assert not lifecycle.incident_close(incident=incident, ended_at=_at(running, 30))
    assert _log_entries(incident) == 3
    logged = [
        json.loads(body)["data"]
        for body in IntegrityLeaf.objects.filter(
            kind__startswith="incident.", session_id=running.pk
        ).values_list("body", flat=True)
    ]
    assert [entry["state"]["severity"] for entry in logged] == ["medium", "high", "high"]
    assert logged[-1]["state"]["ended_at"] is not None and logged[1]["state"]["ended_at"] is None
    incident.refresh_from_db()
    assert (incident.severity, incident.ended_at) == ("high", _at(running, 30))


def test_a_close_before_the_start_ends_the_incident_at_its_start(running):
    incident = lifecycle.incident_open(
        session=running, kind=Incident.Kind.TAB_HIDDEN, started_at=_at(running, 5),
        severity=Incident.Severity.LOW, score=1.0, payload=b"{}",
    )
    lifecycle.incident_close(incident=incident, ended_at=_at(running, 4))
    incident.refresh_from_db()
    assert incident.ended_at == incident.started_at


def test_the_stream_logs_an_incidents_close(running):
    _stream(running, [(t, not 5 <= t <= 14) for t in range(18)])
    incident = Incident.objects.get(session=running)
    # Opened, then closed (severity and score changes, if any, add entries of their own).
    assert _log_entries(incident) >= 2
    last = [
        json.loads(body)["data"]
        for body in IntegrityLeaf.objects.filter(
            kind__startswith="incident.", session_id=running.pk
        ).values_list("body", flat=True)
    ][-1]
    assert last["record_id"] == incident.pk and last["state"]["ended_at"] is not None
