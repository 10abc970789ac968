"""Every way a session ends closes its open incidents, in the transaction of the end, at the
capture time of the last analysed frame."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from exams import services
from exams.errors import IllegalTransition
from exams.models import ExamSession
from integrity.models import IntegrityLeaf
from monitoring import services as stream
from monitoring import tasks
from monitoring.models import Incident, LiveState, Receipt
from reviews.services import incident_create
from tests.monitoring import helpers as h

pytestmark = pytest.mark.django_db

State = ExamSession.State


@pytest.fixture
def running(session, student):
    """In progress since five minutes ago."""
    services.session_consent(session=session, actor=student)
    services.session_camera_check(session=session, actor=student)
    return services.session_start(
        session=session, actor=student, now=timezone.now() - timedelta(minutes=5)
    )


def _ms(moment):
    return moment.timestamp() * 1000


def _event(session, seq, kind, at):
    stream.receipt_claim_new(
        session_id=session.pk, stream=Receipt.Stream.EVENT, seq=seq, captured_at=None,
        reenqueue_after_s=60,
    )
    assert stream.event_process(
        session_id=session.pk, seq=seq, kind=kind, captured_ms=_ms(at)
    )


def _frame(session, seq, at):
    result = tasks.process_frame.apply(kwargs={
        "session_id": str(session.pk), "seq": seq, "captured_ms": _ms(at),
        "image": h.face_jpeg(seq),
    }).get()
    assert result["processed"], result


def _log_entries(incident):
    """How many integrity-log entries record a state of ``incident``."""
    bodies = IntegrityLeaf.objects.filter(
        session_id=incident.session_id, kind__startswith="incident."
    ).values_list("body", flat=True)
    return sum(json.loads(body)["data"]["record_id"] == incident.pk for body in bodies)


def _submit(session, student):
    return services.session_submit(session=session, actor=student)


def _terminate(session, student):
    return services.session_terminate(session=session, actor=student, reason="Ended by staff.")


def _expire_when_seen(session, student):
    return services.session_expire_if_overdue(
        session=session, now=session.deadline_at + timedelta(seconds=1)
    )


def _expire_by_the_periodic_task(session, student):
    assert services.session_expire_overdue(now=session.deadline_at + timedelta(seconds=1)) == 1
    session.refresh_from_db()
    return session


ENDINGS = [_submit, _terminate, _expire_when_seen, _expire_by_the_periodic_task]


@pytest.mark.parametrize("end", ENDINGS, ids=lambda end: end.__name__.strip("_"))
def test_every_end_closes_the_open_incidents_at_the_last_analysed_frame(
    running, student, end
):
    hidden_at = running.started_at + timedelta(seconds=20)
    _event(running, 1, "tab_hidden", hidden_at)
    last_frame_at = running.started_at + timedelta(seconds=30)
    _frame(running, 1, last_frame_at - timedelta(seconds=1))
    _frame(running, 2, last_frame_at)
    ended = end(running, student)
    assert ended.state in {State.SUBMITTED, State.TERMINATED, State.EXPIRED}
    hidden = Incident.objects.get(session=running, kind="tab_hidden")
    assert hidden.ended_at == last_frame_at
    assert not Incident.objects.filter(session=running, ended_at__isnull=True).exists()
    assert _log_entries(hidden) == 2  # the close is in the log, next to the creation
    state = LiveState.objects.get(session=running).rules_state
    assert not state.get("browser") and not state.get("incidents")
    assert state["ended_browser"] == {"tab_hidden": hidden.pk}


def test_with_no_frame_analysed_the_incidents_close_at_the_end(running, student):
    _event(running, 1, "tab_hidden", running.started_at + timedelta(seconds=20))
    ended = _submit(running, student)
    assert Incident.objects.get(session=running).ended_at == ended.ended_at


def test_an_incident_opened_after_the_last_frame_closes_no_earlier_than_it_started(
    running, student
):
    _frame(running, 1, running.started_at + timedelta(seconds=10))
    hidden_at = running.started_at + timedelta(seconds=40)
    _event(running, 1, "tab_hidden", hidden_at)
    _submit(running, student)
    assert Incident.objects.get(session=running).ended_at == hidden_at


def test_an_end_that_rolls_back_leaves_the_incidents_open(running, student):
    _event(running, 1, "tab_hidden", running.started_at + timedelta(seconds=20))
    with pytest.raises(RuntimeError, match="after the submit"), transaction.atomic():
        _submit(running, student)
        assert not Incident.objects.filter(ended_at__isnull=True).exists()  # closed inside
        raise RuntimeError("the request failed after the submit")
    running.refresh_from_db()
    assert running.state == State.IN_PROGRESS
    assert Incident.objects.get(session=running).ended_at is None
    assert "session_ended_at" not in LiveState.objects.get(session=running).rules_state


def test_a_refused_end_closes_nothing(session, student):
    # Not started yet, so it cannot be submitted.
    incident = incident_create(
        session=session, kind=Incident.Kind.TAB_HIDDEN, started_at=timezone.now(),
    )
    with pytest.raises(IllegalTransition, match="Cannot submit a session that is created"):
        _submit(session, student)
    incident.refresh_from_db()
    assert incident.ended_at is None


def test_an_unstarted_session_that_expires_gets_no_stream_state(exam, session):
    expired = services.session_expire_overdue(now=exam.closes_at + timedelta(seconds=1))
    assert expired == 1
    assert not LiveState.objects.filter(session=session).exists()
