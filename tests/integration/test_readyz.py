"""/readyz against the machine's real PostgreSQL and Redis (make test provides both)."""

from __future__ import annotations

import socket

import pytest
from django.db import connection

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_readyz_is_ready_on_postgres_and_redis(client, settings):
    assert connection.vendor == "postgresql"
    response = client.get("/readyz")
    body = response.json()
    assert response.status_code == 200, body
    assert body["checks"] == {"database": "ok", "channel_layer": "ok", "broker": "ok"}


def test_readyz_names_the_broker_when_it_is_unreachable(client, settings):
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{_closed_port()}/0"
    response = client.get("/readyz")
    body = response.json()
    assert response.status_code == 503
    assert body["status"] == "unavailable"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["broker"].startswith("error:")
    assert "Connection" in body["checks"]["broker"] or "refused" in body["checks"]["broker"]
