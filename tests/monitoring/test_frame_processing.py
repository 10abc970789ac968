"""Frame processing through the real task: anonymized evidence, incidents at the right
times, idempotency under redelivery, the reviewers' live view."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync

from monitoring import tasks
from monitoring.models import Evidence, Incident, LiveState, Receipt
from tests.monitoring import helpers as h

pytestmark = pytest.mark.django_db(transaction=True)

T0 = 1_800_000_000_000.0  # capture times in ms, as the page's clock gives them


@pytest.fixture
def running(session, student):
    return h.start_session(session, student)


def _process(session, seq, image, t_s):
    return tasks.process_frame.apply(kwargs={
        "session_id": str(session.pk), "seq": seq, "captured_ms": T0 + t_s * 1000,
        "image": image,
    }).get()


def test_no_face_incident_opens_after_its_minimum_and_closes_when_the_face_returns(running):
    # 0-4 s face, 5-14 s nobody, 15-20 s face again; one frame per second.
    for t in range(21):
        image = h.face_jpeg(t) if t < 5 or t >= 15 else h.empty_jpeg(seed=t)
        result = _process(running, t + 1, image, t)
        assert result["processed"], result
    (incident,) = Incident.objects.filter(session=running)
    assert incident.kind == "no_face" and incident.severity == "medium"
    # Back-dated to the first empty frame; ended at the last empty frame.
    assert incident.started_at.timestamp() * 1000 == pytest.approx(T0 + 5000, abs=1)
    assert incident.ended_at.timestamp() * 1000 == pytest.approx(T0 + 14000, abs=1)
    linked = sorted(Evidence.objects.filter(incident=incident).values_list("seq", flat=True))
    assert linked[0] == 6 and 15 in linked
    assert Evidence.objects.filter(session=running).count() == 21


def test_each_frame_records_its_measurements_for_the_timeline(running):
    from monitoring.models import FrameObservation

    _process(running, 1, h.face_jpeg(1), 0)
    _process(running, 2, h.empty_jpeg(seed=2), 1)
    face, empty = FrameObservation.objects.filter(session=running).order_by("seq")
    assert (face.seq, face.face_count) == (1, 1)
    # The astronaut looks at the camera: a measured pose, near frontal.
    assert face.yaw_deg is not None and abs(face.yaw_deg) < 25
    assert face.gaze_x is not None
    assert (empty.seq, empty.face_count, empty.yaw_deg, empty.gaze_x) == (2, 0, None, None)
    assert face.captured_at.timestamp() * 1000 == pytest.approx(T0, abs=1)


def test_redelivered_frames_change_nothing(running):
    for t in range(8):
        _process(running, t + 1, h.empty_jpeg(seed=t), t)
    before = (Incident.objects.count(), Evidence.objects.count(),
              LiveState.objects.get(pk=running.pk).rules_state)
    for t in range(8):
        assert _process(running, t + 1, h.empty_jpeg(seed=t), t) == {"processed": False}
    after = (Incident.objects.count(), Evidence.objects.count(),
             LiveState.objects.get(pk=running.pk).rules_state)
    assert before == after and before[0] == 1
    assert set(Receipt.objects.values_list("deliveries", flat=True)) == {1}


def test_accommodation_switches_the_no_face_rule_off(running, student):
    from exams.models import Enrollment

    Enrollment.objects.filter(student=student).update(disabled_checks=["no_face"])
    for t in range(10):
        _process(running, t + 1, h.empty_jpeg(seed=t), t)
    assert not Incident.objects.exists()


def test_evidence_is_anonymized_and_small(running):
    import cv2
    import numpy as np

    from monitoring.vision.pipeline import shared_face_finder

    _process(running, 1, h.face_jpeg(), 0)
    evidence = Evidence.objects.get()
    data = evidence.image.read()
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert max(image.shape[:2]) == 320
    assert shared_face_finder().detect(cv2.resize(image, (640, 640))) == []
    assert b"Exif" not in data[:200]


def test_reviewer_live_view_gets_a_snapshot_and_updates(running, reviewer, student):
    ticket = h.issue_ticket(student, running)["ticket"]

    async def scenario():
        live = await h.communicator(reviewer, path="/ws/monitoring/live/")
        connected, _ = await live.connect()
        assert connected
        snapshot = await live.receive_json_from(timeout=5)
        assert snapshot["type"] == "snapshot"
        assert [row["session"] for row in snapshot["rows"]] == [str(running.pk)]
        comm, _ = await h.open_stream(student, running, ticket)
        await comm.send_to(bytes_data=h.frame(running, 1))
        rows = []
        while not any(r["frames"] == 1 for r in rows):
            message = await live.receive_json_from(timeout=20)
            assert message["type"] == "update"
            rows.append(message["row"])
        await comm.disconnect()
        await live.disconnect()
        return rows[-1]

    row = async_to_sync(scenario)()
    assert row["face_count"] == 1 and row["is_connected"] and row["student"] == "alice"


def test_live_view_shows_outsiders_nothing_and_students_no_socket(running, outsider, student):
    async def scenario():
        live = await h.communicator(outsider, path="/ws/monitoring/live/")
        assert (await live.connect())[0]
        assert await live.receive_json_from(timeout=5) == {"type": "snapshot", "rows": []}
        await live.disconnect()
        live = await h.communicator(student, path="/ws/monitoring/live/")
        assert (await live.connect())[0]
        assert await live.receive_output(timeout=5) == {"type": "websocket.close",
                                                          "code": 4404}

    async_to_sync(scenario)()


def test_live_page_is_staff_only(running, reviewer, student):
    from django.test import Client

    for user, status in ((reviewer, 200), (student, 404)):
        client = Client()
        client.force_login(user)
        response = client.get("/monitoring/live/", secure=True)
        assert response.status_code == status
    client = Client()
    client.force_login(reviewer)
    assert "alice" in client.get("/monitoring/live/", secure=True).content.decode()


def test_the_anonymizer_state_kept_between_frames_is_sealed(running):
    import base64
    import uuid

    from privacy.crypto import record_aad, unseal
    from privacy.errors import DecryptionFailed
    from privacy.keys import data_key_for_session

    _process(running, 1, h.face_jpeg(1), 0)
    saved = LiveState.objects.get(session=running).rules_state["anonymizer"]
    assert saved["state"]["tracks"]  # the face's box, to keep it hidden after a miss
    sealed = base64.b64decode(saved["thumbnail"])
    dek = data_key_for_session(running.pk)
    aad = record_aad(session_id=running.pk, record="livestate", field="thumbnail")
    thumbnail = unseal(dek=dek, sealed=sealed, aad=aad)
    assert len(thumbnail) == 64 * 48  # the grey thumbnail the scene trigger compares
    assert thumbnail not in sealed
    other = record_aad(session_id=uuid.uuid4(), record="livestate", field="thumbnail")
    with pytest.raises(DecryptionFailed):
        unseal(dek=dek, sealed=sealed, aad=other)


def test_the_live_row_is_pushed_when_it_changes_not_for_every_frame(running):
    import asyncio

    from asgiref.sync import sync_to_async
    from channels.layers import get_channel_layer

    from monitoring.services import live_group

    group = live_group(running.exam.course_id)
    frames = [h.face_jpeg(1), h.face_jpeg(2), h.face_jpeg(3), h.empty_jpeg(seed=4)]

    async def scenario():
        layer = get_channel_layer()
        channel = await layer.new_channel()
        await layer.group_add(group, channel)
        pushed = []
        for seq, image in enumerate(frames, start=1):
            await sync_to_async(_process)(running, seq, image, seq - 1)
            while True:
                try:
                    message = await asyncio.wait_for(layer.receive(channel), 0.3)
                except TimeoutError:
                    break
                pushed.append((seq, message["row"]["face_count"]))
        return pushed

    # The first frame and the face leaving; the two unchanged frames between (well within
    # LIVE_PUSH_INTERVAL_S) send nothing.
    assert async_to_sync(scenario)() == [(1, 1), (4, 0)]


def test_a_frame_overtaken_while_it_was_analysed_is_redone_on_the_state_now_held(
    running, monkeypatch
):
    from monitoring import services

    analyse = services._frame_work
    based_on = []

    def while_another_worker_applies_frame_1(**kwargs):
        based_on.append(kwargs["live"].frames_processed)
        if len(based_on) == 1:  # frame 2's first pass, unlocked: frame 1 lands meanwhile
            _process(running, 1, h.face_jpeg(1), 0)
        return analyse(**kwargs)

    monkeypatch.setattr(services, "_frame_work", while_another_worker_applies_frame_1)
    assert _process(running, 2, h.face_jpeg(2), 1)["processed"]
    # Frame 2 started from the empty state, frame 1 went through, frame 2 was redone on
    # the state frame 1 left (the anonymizer's memory of faces follows the frames).
    assert based_on == [0, 0, 1]
    live = LiveState.objects.get(session=running)
    assert live.frames_processed == 2 and live.last_frame_seq == 2
    assert live.rules_state["t0_ms"] == T0
