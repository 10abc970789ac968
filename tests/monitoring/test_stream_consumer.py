"""The student stream socket, driven with channels' WebsocketCommunicator against the real
ASGI application (origin check, session auth, consumer, embedded worker thread, database).

Every bad input is refused with its close code or error message, the exam session
survives it, and an AuditEvent records it.
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from django.utils import timezone

from audit.models import AuditEvent
from exams.models import ExamSession
from monitoring import protocol, tasks
from monitoring.models import Evidence, Incident, Receipt, StreamTicket
from tests.monitoring import helpers as h

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def running(session, student):
    return h.start_session(session, student)


def _actions():
    return set(AuditEvent.objects.values_list("action", flat=True))


def _assert_session_survives(session):
    session.refresh_from_db()
    assert session.state == ExamSession.State.IN_PROGRESS


def test_student_frame_is_accepted_then_acked_once_committed(running, student):
    ticket = h.issue_ticket(student, running)["ticket"]

    async def scenario():
        comm, ready = await h.open_stream(student, running, ticket)
        assert ready == {"type": "ready", "mode": "exam", "fps": 1, "frame": 0, "event": 0}
        await comm.send_to(bytes_data=h.frame(running, 1))
        messages = await h.receive_until(comm, lambda m: m["type"] == "ack")
        assert [m["type"] for m in messages] == ["accepted", "ack"]
        assert messages[-1] == {"type": "ack", "stream": "frame", "seq": 1}
        await comm.send_json_to({"type": "sync"})
        assert await comm.receive_json_from(timeout=5) == {"type": "sync", "frame": 1, "event": 0}
        await comm.disconnect()

    async_to_sync(scenario)()
    evidence = Evidence.objects.get(session=running)
    assert evidence.seq == 1 and evidence.width == 640
    assert evidence.image.read(3) == b"\xff\xd8\xff"
    receipt = Receipt.objects.get(session=running, stream="frame", seq=1)
    assert receipt.processed_at is not None and receipt.deliveries == 1
    assert running.live_state.face_count == 1


def test_replayed_frame_is_acked_without_being_processed_twice(running, student):
    ticket = h.issue_ticket(student, running)["ticket"]

    async def scenario():
        comm, _ = await h.open_stream(student, running, ticket)
        data = h.frame(running, 1)
        await comm.send_to(bytes_data=data)
        await h.receive_until(comm, lambda m: m["type"] == "ack")
        await comm.send_to(bytes_data=data)
        replay = await comm.receive_json_from(timeout=5)
        assert replay == {"type": "ack", "stream": "frame", "seq": 1, "duplicate": True}
        await comm.disconnect()

    async_to_sync(scenario)()
    assert Evidence.objects.filter(session=running).count() == 1
    assert Receipt.objects.get(session=running, seq=1).deliveries == 1
    assert "stream.frame.duplicate" in _actions()


@pytest.mark.parametrize(
    ("image", "code", "message"),
    [
        (lambda: h.face_jpeg() + b"\0" * 4096, "too_large", "the limit is 4096 bytes"),
        (lambda: b"%PDF-1.7 not an image at all", "not_an_image", "Unsupported image format"),
        (h.bomb_jpeg, "too_large", "Image is 20000x20000 pixels"),
    ],
    ids=["oversized", "non-image", "decompression-bomb"],
)
def test_bad_frame_is_rejected_and_the_stream_goes_on(
    running, student, settings, image, code, message
):
    settings.PROCTOR_MAX_FRAME_BYTES = 4096 if code == "too_large" and "limit" in message else (
        2 * 1024 * 1024
    )
    if "limit" not in message:
        settings.PROCTOR_MAX_FRAME_BYTES = 2 * 1024 * 1024
    ticket = h.issue_ticket(student, running)["ticket"]

    async def scenario():
        comm, _ = await h.open_stream(student, running, ticket)
        await comm.send_to(bytes_data=h.frame(running, 1, image()))
        reply = await comm.receive_json_from(timeout=5)
        assert reply["type"] == "reject" and reply["code"] == code and reply["seq"] == 1
        assert message in reply["message"]
        # The socket stays open and the next frame goes through.
        await comm.send_to(bytes_data=h.frame(running, 2, h.empty_jpeg() if code else None))
        messages = await h.receive_until(comm, lambda m: m["type"] in ("ack", "reject"))
        assert messages[-1]["type"] == ("reject" if message.startswith("the limit") else "ack")
        await comm.disconnect()

    async_to_sync(scenario)()
    _assert_session_survives(running)
    rejected = AuditEvent.objects.get(action="stream.frame.rejected", session=running,
                                      detail__seq=1)
    assert message in rejected.reason
    assert Receipt.objects.get(session=running, seq=1).failed_at is not None
    assert not Evidence.objects.filter(session=running, seq=1).exists()


def test_foreign_origin_is_refused_before_the_consumer(running, student):
    async def scenario():
        comm = await h.communicator(student, origin=b"https://evil.example")
        connected, _ = await comm.connect()
        assert not connected

    async_to_sync(scenario)()
    event = AuditEvent.objects.get(action="stream.origin.refused")
    assert "evil.example" in event.reason
    _assert_session_survives(running)


def _auth_refusal(user, running, auth_message, expected_code):
    async def scenario():
        comm = await h.communicator(user)
        connected, _ = await comm.connect()
        assert connected
        await comm.send_to(text_data=json.dumps(auth_message))
        closing = await comm.receive_json_from(timeout=5)
        assert closing["type"] == "closing" and closing["code"] == expected_code
        output = await comm.receive_output(timeout=5)
        assert output == {"type": "websocket.close", "code": expected_code}
        return closing["message"]

    return async_to_sync(scenario)()


def test_socket_without_a_ticket_is_closed_4400(running, student):
    message = _auth_refusal(student, running, {"type": "auth", "session": str(running.pk)},
                            protocol.CLOSE_BAD_REQUEST)
    assert "first message must be" in message
    assert AuditEvent.objects.filter(action="stream.auth.refused").exists()
    _assert_session_survives(running)


def test_unknown_ticket_is_closed_4401(running, student):
    auth = {"type": "auth", "session": str(running.pk), "ticket": "made-up"}
    assert "unknown" in _auth_refusal(student, running, auth, protocol.CLOSE_UNAUTHENTICATED)
    event = AuditEvent.objects.get(action="stream.auth.refused")
    assert event.session == running and event.detail["close_code"] == 4401


def test_expired_ticket_is_closed_4401(running, student):
    ticket = h.issue_ticket(student, running)["ticket"]
    StreamTicket.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    auth = {"type": "auth", "session": str(running.pk), "ticket": ticket}
    assert "expired" in _auth_refusal(student, running, auth, protocol.CLOSE_UNAUTHENTICATED)
    assert AuditEvent.objects.filter(action="stream.auth.refused", session=running).exists()


def test_reused_ticket_is_closed_4401(running, student):
    ticket = h.issue_ticket(student, running)["ticket"]

    async def first():
        comm, ready = await h.open_stream(student, running, ticket)
        assert ready["type"] == "ready"
        await comm.disconnect()

    async_to_sync(first)()
    auth = {"type": "auth", "session": str(running.pk), "ticket": ticket}
    assert "already used" in _auth_refusal(student, running, auth,
                                           protocol.CLOSE_UNAUTHENTICATED)
    _assert_session_survives(running)


def test_student_cannot_stream_another_students_session(running, student, other_student, exam):
    from tests import factories as f

    theirs = h.start_session(f.ExamSessionFactory(exam=exam, student=other_student),
                             other_student)
    ticket = h.issue_ticket(student, running)["ticket"]
    auth = {"type": "auth", "session": str(theirs.pk), "ticket": ticket}
    assert "No such exam session" in _auth_refusal(student, running, auth,
                                                   protocol.CLOSE_NOT_FOUND)
    assert AuditEvent.objects.filter(action="stream.auth.refused", session=theirs).exists()
    # Nor get a ticket for it: forbidden looks like missing.
    from django.test import Client
    from django.urls import reverse

    client = Client()
    client.force_login(student)
    response = client.post(reverse("monitoring:stream_ticket", args=[theirs.pk]), secure=True)
    assert response.status_code == 404
    assert AuditEvent.objects.filter(action="stream.ticket.refused").exists()


def test_anonymous_socket_is_closed_4401(running):
    async def scenario():
        comm = await h.communicator(None)
        connected, _ = await comm.connect()
        assert connected
        closing = await comm.receive_json_from(timeout=5)
        assert closing["code"] == protocol.CLOSE_UNAUTHENTICATED

    async_to_sync(scenario)()
    assert AuditEvent.objects.filter(action="stream.connect.refused").exists()


def test_ticket_for_a_session_that_ended_is_closed_4409(running, student):
    from exams import services as exam_services

    ticket = h.issue_ticket(student, running)["ticket"]
    exam_services.session_submit(session=running, actor=student)
    auth = {"type": "auth", "session": str(running.pk), "ticket": ticket}
    assert "submitted" in _auth_refusal(student, running, auth, protocol.CLOSE_SESSION_ENDED)


def test_flood_beyond_the_rate_limit_is_refused_and_audited_once(running, student, monkeypatch):
    from monitoring.consumers import StudentStreamConsumer

    # A tighter limit than production's, so that a flood is quick to send here.
    monkeypatch.setattr(StudentStreamConsumer, "rate_burst", 10.0)
    monkeypatch.setattr(StudentStreamConsumer, "rate_extra_per_s", 1.0)
    ticket = h.issue_ticket(student, running)["ticket"]

    async def scenario():
        comm, _ = await h.open_stream(student, running, ticket)
        now = time.time() * 1000
        for seq in range(1, 101):
            await comm.send_json_to(
                {"type": "event", "seq": seq, "kind": "copy", "t": now + seq}
            )
        replies = [await comm.receive_json_from(timeout=10) for _ in range(100)]
        await comm.disconnect()
        return replies

    replies = async_to_sync(scenario)()
    limited = [r for r in replies if r.get("code") == "rate_limited"]
    assert len(limited) >= 50
    assert all(r["type"] == "error" and "send it again later" in r["message"] for r in limited)
    assert AuditEvent.objects.filter(action="stream.rate_limited").count() == 1
    _assert_session_survives(running)


def test_far_future_sequence_is_refused(running, student):
    ticket = h.issue_ticket(student, running)["ticket"]

    async def scenario():
        comm, _ = await h.open_stream(student, running, ticket)
        await comm.send_to(bytes_data=h.frame(running, 1_000_000))
        reply = await comm.receive_json_from(timeout=5)
        await comm.disconnect()
        return reply

    reply = async_to_sync(scenario)()
    assert reply["type"] == "error" and reply["code"] == "far_future"
    assert "further ahead than" in reply["message"]
    assert AuditEvent.objects.filter(action="stream.frame.refused", detail__seq=1_000_000).exists()
    assert not Receipt.objects.filter(session=running).exists()
    _assert_session_survives(running)


def test_browser_events_open_and_close_incidents(running, student):
    ticket = h.issue_ticket(student, running)["ticket"]

    async def scenario():
        comm, _ = await h.open_stream(student, running, ticket)
        now = time.time() * 1000
        await comm.send_json_to({"type": "event", "seq": 1, "kind": "tab_hidden", "t": now})
        await comm.send_json_to({"type": "event", "seq": 2, "kind": "tab_visible",
                                 "t": now + 4000})
        await comm.send_json_to({"type": "event", "seq": 3, "kind": "paste", "t": now + 5000})
        acks = set()
        while len(acks) < 3:
            message = await comm.receive_json_from(timeout=10)
            if message["type"] == "ack":
                acks.add(message["seq"])
        await comm.disconnect()

    async_to_sync(scenario)()
    hidden = Incident.objects.get(session=running, kind="tab_hidden")
    assert (hidden.ended_at - hidden.started_at).total_seconds() == pytest.approx(4, abs=0.01)
    paste = Incident.objects.get(session=running, kind="copy_paste")
    assert paste.ended_at == paste.started_at


def test_camera_check_returns_the_anonymized_frame(session, student):
    from exams import services as exam_services

    exam_services.session_consent(session=session, actor=student)
    ticket = h.issue_ticket(student, session, purpose="check")["ticket"]

    async def scenario():
        comm, ready = await h.open_stream(student, session, ticket)
        assert ready["mode"] == "check"
        await comm.send_to(bytes_data=h.frame(session, 1))
        output = await comm.receive_output(timeout=20)
        await comm.disconnect()
        return output["bytes"]

    jpeg = async_to_sync(scenario)()
    import cv2
    import numpy as np

    from monitoring.vision.pipeline import shared_face_finder

    anonymized = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    original = cv2.imdecode(np.frombuffer(h.face_jpeg(), np.uint8), cv2.IMREAD_COLOR)
    (face,) = shared_face_finder().detect(original)
    x1, y1, x2, y2 = face.box
    # The face region changed a lot, the background far from it hardly.
    face_change = np.abs(anonymized[y1:y2, x1:x2].astype(int) - original[y1:y2, x1:x2]).mean()
    corner_change = np.abs(anonymized[-80:, -80:].astype(int) - original[-80:, -80:]).mean()
    assert face_change > 8 * max(corner_change, 1)
    assert shared_face_finder().detect(anonymized) == []
    assert not Evidence.objects.exists() and not Receipt.objects.exists()


def test_logout_closes_the_socket_4411(running, student):
    from django.contrib.auth.signals import user_logged_out

    ticket = h.issue_ticket(student, running)["ticket"]

    async def scenario():
        comm, _ = await h.open_stream(student, running, ticket)
        from asgiref.sync import sync_to_async

        await sync_to_async(user_logged_out.send)(sender=None, request=None, user=student)
        closing = await comm.receive_json_from(timeout=5)
        assert closing["code"] == protocol.CLOSE_LOGGED_OUT
        assert await comm.receive_output(timeout=5) == {
            "type": "websocket.close", "code": protocol.CLOSE_LOGGED_OUT,
        }

    async_to_sync(scenario)()


def test_second_socket_replaces_the_first_4410(running, student):
    tickets = [h.issue_ticket(student, running)["ticket"] for _ in range(2)]

    async def scenario():
        first, _ = await h.open_stream(student, running, tickets[0])
        second, ready = await h.open_stream(student, running, tickets[1])
        assert ready["type"] == "ready"
        closing = await first.receive_json_from(timeout=5)
        assert closing["code"] == protocol.CLOSE_REPLACED
        await second.disconnect()

    async_to_sync(scenario)()


def test_poison_frame_is_quarantined_after_the_delivery_cap(running):
    from monitoring import services

    for _ in range(tasks.MAX_DELIVERIES):
        assert services.receipt_begin_delivery(
            session_id=running.pk, stream="frame", seq=7, max_deliveries=tasks.MAX_DELIVERIES
        )
    result = tasks.process_frame.apply(kwargs={
        "session_id": str(running.pk), "seq": 7, "captured_ms": time.time() * 1000,
        "image": b"AAAA",
    }).get()
    assert result == {"processed": False}
    receipt = Receipt.objects.get(session=running, seq=7)
    assert receipt.failed_at is not None and "Quarantined after 3 deliveries" in receipt.failure
    assert AuditEvent.objects.filter(action="stream.frame.quarantined").exists()


def test_undecodable_frame_in_the_queue_is_quarantined_not_stored(running):
    result = tasks.process_frame.apply(kwargs={
        "session_id": str(running.pk), "seq": 1, "captured_ms": time.time() * 1000,
        "image": b"\xff\xd8\xff\xe0garbage",
    }).get()
    assert result["processed"] is False and "quarantined" in result
    assert not Evidence.objects.exists()


def test_session_end_closes_the_socket_4409_and_the_open_incidents(
    running, student, monkeypatch
):
    from asgiref.sync import sync_to_async

    from exams import services as exam_services
    from monitoring import consumers

    monkeypatch.setattr(consumers, "STATE_CHECK_EVERY_S", 0.2)
    ticket = h.issue_ticket(student, running)["ticket"]

    async def scenario():
        comm, _ = await h.open_stream(student, running, ticket)
        now = time.time() * 1000
        await comm.send_json_to({"type": "event", "seq": 1, "kind": "tab_hidden", "t": now})
        await h.receive_until(comm, lambda m: m["type"] == "ack")
        await sync_to_async(exam_services.session_submit)(session=running, actor=student)
        closing = await h.receive_until(comm, lambda m: m["type"] == "closing")
        assert closing[-1]["code"] == protocol.CLOSE_SESSION_ENDED
        assert "submitted" in closing[-1]["message"]
        await asyncio.sleep(0.5)  # let the loop hand finish_session to the worker thread

    async_to_sync(scenario)()
    tasks.wait_embedded_idle()
    hidden = Incident.objects.get(session=running, kind="tab_hidden")
    assert hidden.ended_at is not None
