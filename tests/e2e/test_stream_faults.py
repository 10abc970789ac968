"""Faults against the real stack: PostgreSQL, Redis (broker and channel layer), a Celery
worker and Daphne, with a real browser streaming through its outbox.

The worker is killed with SIGKILL mid-stream and restarted; then Redis itself is
restarted (a private one on a free port, without persistence, so everything it held is
gone). Afterwards the server holds frames 1..N exactly once and no incident is doubled.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from itertools import pairwise

import pytest
from django.urls import reverse

from exams import services as exam_services
from monitoring.models import Evidence, Incident, Receipt
from tests.e2e.conftest import Process, _spawn, free_port, login, start_server, start_worker

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _start_redis(port: int, log_dir) -> Process:
    redis = _spawn(
        f"redis-{port}",
        [shutil.which("redis-server") or "redis-server", "--port", str(port), "--bind",
         "127.0.0.1", "--save", "", "--appendonly", "no"],
        {}, log_dir,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        ping = subprocess.run(  # noqa: S603
            ["redis-cli", "-p", str(port), "ping"], capture_output=True, text=True,  # noqa: S607
        )
        if ping.stdout.strip() == "PONG":
            return redis
        time.sleep(0.1)
    raise RuntimeError(f"redis on {port} did not start:\n{redis.tail()}")


def _wait_for(predicate, timeout_s: float, what: str, interval_s: float = 0.5):
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(interval_s)


@pytest.fixture
def stack(e2e_log_dir):
    port = free_port()
    redis = _start_redis(port, e2e_log_dir)
    env = {"REDIS_URL": f"redis://127.0.0.1:{port}/0", "LOG_LEVEL": "INFO"}
    server = start_server(e2e_log_dir, env=env, name="daphne-redis")
    worker = start_worker(e2e_log_dir, env=env)
    state = {"redis": redis, "server": server, "worker": worker, "port": port, "env": env,
             "log_dir": e2e_log_dir}
    yield state
    state["worker"].stop()
    server.stop()
    state["redis"].stop()


def _captured(page) -> int:
    return int(page.get_attribute("#exam-session", "data-captured") or 0)


def test_worker_killed_and_redis_restarted_mid_stream_lose_and_double_nothing(
    session, student, face_clip_browser, stack
):
    for step in (exam_services.session_consent, exam_services.session_camera_check,
                 exam_services.session_start):
        step(session=session, actor=student)
    server = stack["server"]
    context = face_clip_browser.new_context()
    page = login(context, server, student)
    page.goto(server.url(reverse("exams:session", args=[session.pk])))
    page.wait_for_selector("#exam-session[data-stream-state='online']", timeout=30_000)
    _wait_for(lambda: _captured(page) >= 8, 30, "eight frames")

    stack["worker"].kill9()
    _wait_for(lambda: _captured(page) >= 13, 30, "frames while no worker runs")
    stack["worker"] = start_worker(stack["log_dir"], env=stack["env"], name="worker-2")

    _wait_for(lambda: _captured(page) >= 22, 30, "frames before Redis restarts")
    stack["redis"].stop()
    time.sleep(2)
    stack["redis"] = _start_redis(stack["port"], stack["log_dir"])

    _wait_for(lambda: _captured(page) >= 45, 60, "two no-face periods")
    _wait_for(lambda: page.get_attribute("#exam-session", "data-queued") in ("0", "1"),
              90, "the outbox to drain", interval_s=1)
    page.close()
    context.close()

    frames = Receipt.objects.filter(session=session, stream="frame")
    _wait_for(lambda: not frames.filter(processed_at__isnull=True, failed_at__isnull=True)
              .exists(), 60, "every accepted frame to be processed", interval_s=1)
    seqs = sorted(frames.filter(processed_at__isnull=False).values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1)), "a frame was lost"
    assert len(seqs) >= 44
    assert not frames.filter(failed_at__isnull=False).exists()
    assert list(Evidence.objects.filter(session=session).values_list("seq", flat=True)) == seqs

    no_face = list(Incident.objects.filter(session=session, kind="no_face")
                   .order_by("started_at"))
    assert 1 <= len(no_face) <= 3
    for earlier, later in pairwise(no_face):
        assert earlier.ended_at is not None and earlier.ended_at < later.started_at, (
            "two no_face incidents overlap: one was doubled"
        )
    for incident in no_face:
        if incident.ended_at is not None:
            assert (incident.ended_at - incident.started_at).total_seconds() <= 11
