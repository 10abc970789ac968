"""The whole path in a real browser: Chromium's fake webcam plays a clip built from the
astronaut photo (10 s of a face, 10 s of nobody, looped) → capture.js → the encrypted
outbox → the stream socket → the embedded worker → evidence, incidents, live view."""

from __future__ import annotations

import base64
import time

import cv2
import numpy as np
import pytest
from django.urls import reverse

from exams import services as exam_services
from monitoring.models import Evidence, Incident, Receipt
from monitoring.vision.pipeline import shared_face_finder
from tests.e2e.conftest import login, wait_until_page_left

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def student_page(face_clip_browser, daphne_server, student):
    context = face_clip_browser.new_context()
    page = login(context, daphne_server, student)
    yield page
    context.close()


def _decode_data_url(data_url: str) -> np.ndarray:
    raw = base64.b64decode(data_url.split(",", 1)[1])
    return cv2.imdecode(np.frombuffer(raw, np.uint8), cv2.IMREAD_COLOR)


GRAB_BOTH = """async () => {
  const video = document.getElementById('camera-preview');
  const img = document.getElementById('anonymized-preview');
  const canvas = document.createElement('canvas');
  canvas.width = video.videoWidth; canvas.height = video.videoHeight;
  canvas.getContext('2d').drawImage(video, 0, 0);
  const blob = await (await fetch(img.src)).blob();
  const anonymized = await new Promise((resolve) => {
    const reader = new FileReader(); reader.onload = () => resolve(reader.result);
    reader.readAsDataURL(blob);
  });
  return [canvas.toDataURL('image/jpeg', 0.9), anonymized];
}"""


def test_camera_check_shows_the_face_anonymized(session, student, student_page, daphne_server):
    exam_services.session_consent(session=session, actor=student)
    page = student_page
    page.goto(daphne_server.url(reverse("exams:camera_check", args=[session.pk])))
    try:
        page.wait_for_selector("#anonymized-preview:not([hidden])", timeout=30_000)
    except Exception:
        print(page.url, page.content()[:3000], page.console_lines, daphne_server.process.tail())
        raise
    raw_faces_seen = 0
    deadline = time.monotonic() + 40
    while raw_faces_seen < 3 and time.monotonic() < deadline:
        raw_url, anonymized_url = page.evaluate(GRAB_BOTH)
        raw, anonymized = _decode_data_url(raw_url), _decode_data_url(anonymized_url)
        assert anonymized.shape[:2] == (480, 640)
        # Whatever the clip shows, the image from the server never contains a face.
        assert shared_face_finder().detect(anonymized) == []
        if shared_face_finder().detect(raw):
            raw_faces_seen += 1
        time.sleep(1)
    assert raw_faces_seen >= 3, "the fake camera never showed the face"
    assert "reviewers see" in page.inner_text("#camera-status")
    assert not Evidence.objects.exists(), "the camera check stores nothing"


def test_exam_stream_orders_frames_and_opens_and_closes_a_no_face_incident(
    session, student, reviewer, student_page, face_clip_browser, daphne_server
):
    exam_services.session_consent(session=session, actor=student)
    exam_services.session_camera_check(session=session, actor=student)
    exam_services.session_start(session=session, actor=student)
    reviewer_context = face_clip_browser.new_context()
    live = login(reviewer_context, daphne_server, reviewer)
    live.goto(daphne_server.url("/monitoring/live/"))
    live.wait_for_selector("#live-status:has-text('Live')")

    page = student_page
    page.goto(daphne_server.url(reverse("exams:session", args=[session.pk])))
    page.wait_for_selector("#exam-session[data-stream-state='online']", timeout=30_000)
    row = f"tr[data-session='{session.pk}']"
    # The reviewer sees the incident open while it lasts ...
    live.wait_for_selector(f"{row}[data-open-incidents*='no_face']", timeout=45_000)
    # ... and it closes once the face is back.
    deadline = time.monotonic() + 30
    while not Incident.objects.filter(session=session, kind="no_face",
                                      ended_at__isnull=False).exists():
        assert time.monotonic() < deadline, "the no_face incident never closed"
        time.sleep(0.5)
    live.wait_for_selector(f"{row}:not([data-open-incidents*='no_face'])", timeout=15_000)
    captured = int(page.get_attribute("#exam-session", "data-captured"))
    page.close()
    reviewer_context.close()
    wait_until_page_left(session)

    incident = Incident.objects.get(session=session, kind="no_face")
    duration_s = (incident.ended_at - incident.started_at).total_seconds()
    # 10 s of nobody in the clip, sampled once a second: 8-10 s between the first and the
    # last empty frame (a frame or two at the edges may go either way).
    assert 7.5 <= duration_s <= 10.5, duration_s
    # Opened only once no_face_min_s (5 s) had passed; started_at is on the page's clock
    # (corrected by the offset measured at connect), so allow a little skew.
    assert (incident.created_at - incident.started_at).total_seconds() >= 4.5
    frames = list(
        Receipt.objects.filter(session=session, stream="frame").order_by("processed_at")
        .values_list("seq", "processed_at", "deliveries")
    )
    processed = [seq for seq, at, _ in frames if at is not None]
    assert processed == sorted(processed), "frames were processed out of order"
    assert processed == list(range(1, len(processed) + 1))
    assert len(processed) >= captured - 3  # the last few may still be in flight
    assert {deliveries for _, _, deliveries in frames} == {1}
    assert list(Evidence.objects.filter(session=session).values_list("seq", flat=True)) == (
        processed
    )


def _wait_for(predicate, timeout_s: float, what: str, interval_s: float = 0.5):
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(interval_s)


def test_network_loss_and_a_reload_lose_nothing_and_double_nothing(
    session, student, student_page, daphne_server
):
    for step in (exam_services.session_consent, exam_services.session_camera_check,
                 exam_services.session_start):
        step(session=session, actor=student)
    page = student_page
    url = daphne_server.url(reverse("exams:session", args=[session.pk]))
    page.goto(url)
    page.wait_for_selector("#exam-session[data-stream-state='online']", timeout=30_000)
    _wait_for(lambda: int(page.get_attribute("#exam-session", "data-captured") or 0) >= 5,
              20, "five frames")

    page.context.set_offline(True)
    offline_at = time.monotonic()
    page.wait_for_selector("#exam-session[data-stream-state='offline']", timeout=20_000)
    assert "Buffering (" in page.inner_text("#connection-status")
    time.sleep(max(0.0, 30 - (time.monotonic() - offline_at)))
    queued = int(page.get_attribute("#exam-session", "data-queued"))
    assert queued >= 20, f"only {queued} messages were buffered during 30 s offline"
    held_while_offline = Receipt.objects.filter(session=session, stream="frame").count()

    page.context.set_offline(False)
    page.reload()  # the backlog now lives only in the page's IndexedDB outbox
    page.wait_for_selector("#exam-session[data-stream-state='online']", timeout=60_000)
    _wait_for(lambda: page.get_attribute("#exam-session", "data-queued") in ("0", "1"),
              60, "the outbox to drain")
    captured = int(page.get_attribute("#exam-session", "data-captured"))
    page.close()
    wait_until_page_left(session)

    frames = Receipt.objects.filter(session=session, stream="frame")
    _wait_for(lambda: not frames.filter(processed_at__isnull=True).exists(), 30,
              "the last frames to be processed")
    seqs = sorted(frames.values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1)), "a sequence number is missing"
    assert len(seqs) >= captured - 2 and len(seqs) >= held_while_offline + queued - 2
    assert not frames.filter(failed_at__isnull=False).exists()
    assert set(frames.values_list("deliveries", flat=True)) == {1}, "a frame was processed twice"
    evidence = list(Evidence.objects.filter(session=session).values_list("seq", flat=True))
    assert evidence == seqs
    assert Incident.objects.filter(session=session, kind="page_reload").count() == 1


def test_camera_check_says_when_there_is_no_camera(
    session, student, playwright_instance, daphne_server
):
    from tests.e2e.conftest import CHROMIUM

    exam_services.session_consent(session=session, actor=student)
    # Permission granted, but no fake device: the machine has no camera at all.
    browser = playwright_instance.chromium.launch(
        executable_path=CHROMIUM, headless=True,
        args=["--no-sandbox", "--use-fake-ui-for-media-stream", "--disable-gpu"],
    )
    try:
        page = login(browser.new_context(), daphne_server, student)
        page.goto(daphne_server.url(reverse("exams:camera_check", args=[session.pk])))
        page.wait_for_selector("#camera-check[data-camera-state='error']", timeout=20_000)
        status = page.inner_text("#camera-status")
        assert "No camera was found" in status or "denied" in status, status
    finally:
        browser.close()
