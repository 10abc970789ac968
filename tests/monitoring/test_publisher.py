"""Handing accepted messages to the broker in batches: one receipt statement per batch,
the tasks in arrival order, and a failed hand-over releases what it claimed."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import async_to_sync
from celery import current_app
from django.utils import timezone
from kombu import Connection

from monitoring import services, tasks
from monitoring.models import Receipt
from tests.monitoring import helpers as h

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def running(session, student):
    return h.start_session(session, student)


@pytest.fixture
def broker():
    """Celery publishing for real, to kombu's in-memory transport (as with Redis, minus
    the server): the embedded default otherwise runs tasks in place."""
    was_eager = current_app.conf.task_always_eager
    current_app.conf.task_always_eager = False
    try:
        with Connection("memory://") as connection:
            queue = connection.SimpleQueue("celery", accept=["json", "msgpack"])
            queue.clear()
            yield queue
            queue.clear()
            queue.close()
    finally:
        current_app.conf.task_always_eager = was_eager


def _claim(session, seq):
    return {"session_id": str(session.pk), "stream": "frame", "seq": seq,
            "captured_at": timezone.now(), "reenqueue_after_s": 15.0}


def _kwargs(session, seq):
    return {"session_id": str(session.pk), "seq": seq, "captured_ms": 1.0,
            "image": h.face_jpeg(seq)}


def test_a_batch_is_claimed_in_one_statement_and_a_second_copy_waits(
    running, django_assert_num_queries
):
    claims = [_claim(running, 1), _claim(running, 2), _claim(running, 2)]
    # One INSERT for the three; the second copy of 2 then looks its receipt up.
    with django_assert_num_queries(2):
        outcomes = services.receipt_claim_many(claims)
    assert outcomes == ["new", "new", "pending"]
    assert sorted(Receipt.objects.values_list("seq", flat=True)) == [1, 2]


def test_messages_submitted_together_reach_the_broker_once_each_in_order(running, broker):
    async def scenario():
        publisher = tasks.Publisher()
        return await asyncio.gather(*(
            publisher.submit(tasks.process_frame, _kwargs(running, seq), _claim(running, seq))
            for seq in range(1, 7)
        ))

    assert async_to_sync(scenario)() == ["new"] * 6
    messages = [broker.get(block=False) for _ in range(6)]
    assert broker.qsize() == 0
    bodies = [message.decode() for message in messages]
    assert [m.headers["task"] for m in messages] == ["monitoring.process_frame"] * 6
    assert messages[0].content_type == "application/x-msgpack"  # bytes, not base64 in JSON
    _, kwargs, _ = bodies[0]
    assert kwargs["image"] == h.face_jpeg(1)
    assert [kwargs["seq"] for _, kwargs, _ in bodies] == [1, 2, 3, 4, 5, 6]
    # The frame's bytes stay out of the task's printed form (logs, monitoring events).
    assert "image" not in messages[0].headers["kwargsrepr"]


def test_a_failed_hand_over_releases_its_receipts_so_the_resend_is_new(
    running, broker, monkeypatch
):
    def broker_down(*args, **kwargs):
        raise ConnectionError("Redis is down")

    monkeypatch.setattr(tasks, "publish", broker_down)

    async def submit():
        return await tasks.Publisher().submit(
            tasks.process_frame, _kwargs(running, 1), _claim(running, 1)
        )

    with pytest.raises(ConnectionError):
        async_to_sync(submit)()
    assert not Receipt.objects.exists()
    monkeypatch.undo()
    assert async_to_sync(submit)() == "new"
    assert broker.qsize() == 1
