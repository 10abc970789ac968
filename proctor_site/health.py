"""Liveness and readiness probes for load balancers and orchestrators.

/healthz answers as long as the process serves requests. /readyz checks what a request
needs: the database, the channel layer and the Celery broker; 503 names what failed.
"""

from __future__ import annotations

import uuid

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from proctor_site.celery import app as celery_app

BROKER_TIMEOUT_S = 2.0


def _check_database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return "ok"


def _check_channel_layer() -> str:
    layer = get_channel_layer()
    if layer is None:
        raise RuntimeError("no channel layer configured")
    channel = async_to_sync(layer.new_channel)("readyz.")
    token = uuid.uuid4().hex
    async_to_sync(layer.send)(channel, {"type": "readyz.ping", "token": token})
    message = async_to_sync(layer.receive)(channel)
    if message.get("token") != token:
        raise RuntimeError("channel layer returned a different message")
    return "ok"


def _check_broker() -> str:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return "ok (embedded: tasks run in-process)"
    with celery_app.connection_for_write(url=settings.CELERY_BROKER_URL) as conn:
        conn.ensure_connection(max_retries=1, timeout=BROKER_TIMEOUT_S)
    return "ok"


@require_GET
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@require_GET
@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    checks = {
        "database": _check_database,
        "channel_layer": _check_channel_layer,
        "broker": _check_broker,
    }
    results: dict[str, str] = {}
    ready = True
    for name, check in checks.items():
        try:
            results[name] = check()
        except Exception as exc:  # noqa: BLE001  (a probe reports any failure, by name)
            ready = False
            results[name] = f"error: {type(exc).__name__}: {exc}"
    return JsonResponse(
        {"status": "ok" if ready else "unavailable", "checks": results},
        status=200 if ready else 503,
    )
