"""Shared helpers for the streaming tests: real frames, real sockets, real tickets."""

from __future__ import annotations

import json
import time
from functools import cache

import cv2
import numpy as np
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client
from django.urls import reverse

from exams import services as exam_services
from monitoring.protocol import build_frame
from proctor_site.asgi import application

ORIGIN = b"http://127.0.0.1"


@cache
def face_jpeg(seed: int = 0) -> bytes:
    """scikit-image's public-domain astronaut photo (a face), at 640x640, JPEG q70, with
    sensor-like noise that differs per seed (identical frames would read as frozen)."""
    from skimage import data

    rng = np.random.default_rng(seed)
    rgb = cv2.resize(data.astronaut(), (640, 640))
    rgb = np.clip(rgb.astype(np.int16) + rng.integers(-6, 7, rgb.shape), 0, 255)
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb.astype(np.uint8), cv2.COLOR_RGB2BGR),
                           [cv2.IMWRITE_JPEG_QUALITY, 70])
    assert ok
    return buf.tobytes()


def empty_jpeg(seed: int = 0) -> bytes:
    """A lit, textured scene with nobody in it; different noise per seed (a live camera)."""
    from skimage import data

    rng = np.random.default_rng(seed)
    scene = cv2.resize(cv2.cvtColor(data.coffee(), cv2.COLOR_RGB2BGR), (640, 480))
    noisy = np.clip(scene.astype(np.int16) + rng.integers(-12, 13, scene.shape), 0, 255)
    ok, buf = cv2.imencode(".jpg", noisy.astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, 70])
    assert ok
    return buf.tobytes()


def bomb_jpeg() -> bytes:
    """A small valid JPEG whose frame header claims 20000x20000 pixels."""
    data = bytearray(face_jpeg())
    offset = 2
    while True:
        marker, length = data[offset + 1], int.from_bytes(data[offset + 2 : offset + 4], "big")
        if 0xC0 <= marker <= 0xC3:
            data[offset + 5 : offset + 9] = (20000).to_bytes(2, "big") * 2
            return bytes(data)
        offset += 2 + length


def start_session(session, student):
    exam_services.session_consent(session=session, actor=student)
    exam_services.session_camera_check(session=session, actor=student)
    return exam_services.session_start(session=session, actor=student)


def login_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


def issue_ticket(user, session, purpose: str = "exam") -> dict:
    client = Client()
    client.force_login(user)
    response = client.post(
        reverse("monitoring:stream_ticket", args=[session.pk]), {"purpose": purpose},
        secure=True,
    )
    assert response.status_code == 200, response.content
    return response.json()


async def communicator(user=None, *, origin: bytes = ORIGIN, path="/ws/monitoring/stream/"):
    """A WebsocketCommunicator on the real ASGI application, logged in as ``user``."""
    headers = [(b"origin", origin), (b"host", b"127.0.0.1")]
    if user is not None:
        cookie = await database_sync_to_async(login_cookie)(user)
        headers.append((b"cookie", f"sessionid={cookie}".encode()))
    return WebsocketCommunicator(application, path, headers=headers)


async def open_stream(user, session, ticket: str, *, client_ms: float | None = None):
    """A socket past authentication; returns (communicator, the server's first message)."""
    comm = await communicator(user)
    connected, _ = await comm.connect()
    assert connected
    await comm.send_to(text_data=json.dumps({
        "type": "auth", "session": str(session.pk), "ticket": ticket,
        "client_ms": client_ms or time.time() * 1000,
    }))
    return comm, await comm.receive_json_from(timeout=10)


def frame(session, seq: int, image: bytes | None = None, captured_ms: float | None = None):
    return build_frame(
        session.pk, seq, captured_ms if captured_ms is not None else time.time() * 1000,
        image if image is not None else face_jpeg(),
    )


async def receive_until(comm, predicate, *, timeout: float = 20.0) -> list[dict]:
    """Messages received until one satisfies ``predicate`` (included); fails on timeout."""
    seen = []
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"timed out; got {seen}"
        message = await comm.receive_json_from(timeout=remaining)
        seen.append(message)
        if predicate(message):
            return seen
