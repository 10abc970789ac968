"""Celery task that delivers signed webhooks, with retries and a timeout on the I/O."""

from __future__ import annotations

import logging
import time

import requests
from celery import shared_task
from django.conf import settings
from django.db.models import F

from exams.api.services import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    webhook_delivery_record,
    webhook_signature,
)
from exams.models import WebhookDelivery

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8


@shared_task(name="exams.api.deliver_webhook", bind=True, acks_late=True, max_retries=None)
def deliver_webhook(self, delivery_id: str) -> str:
    """POST one delivery; retry with exponential backoff up to MAX_ATTEMPTS.

    Idempotent: a delivery that is no longer pending (delivered, or given up) is skipped,
    so a redelivered message (acks_late) does not post twice after a success.
    """
    delivery = (
        WebhookDelivery.objects.select_related("endpoint").filter(pk=delivery_id).first()
    )
    if delivery is None or delivery.status != WebhookDelivery.Status.PENDING:
        return "skipped"
    WebhookDelivery.objects.filter(pk=delivery.pk).update(attempts=F("attempts") + 1)
    delivery.refresh_from_db(fields=["attempts"])
    endpoint = delivery.endpoint
    timestamp = int(time.time())
    body = delivery.body.encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Proctor-Webhook/1",
        "Proctor-Event": delivery.event,
        "Proctor-Delivery": str(delivery.pk),
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: webhook_signature(
            secret=endpoint.secret, timestamp=timestamp, body=body
        ),
    }
    status_code: int | None = None
    error = ""
    try:
        response = requests.post(
            endpoint.url, data=body, headers=headers,
            timeout=settings.PROCTOR_WEBHOOK_TIMEOUT_S, allow_redirects=False,
        )
        status_code = response.status_code
        if not 200 <= status_code < 300:
            error = f"HTTP {status_code}"
    except requests.RequestException as exc:
        error = f"{type(exc).__name__}: {exc}"
    give_up = bool(error) and delivery.attempts >= MAX_ATTEMPTS
    webhook_delivery_record(
        delivery=delivery, status_code=status_code, error=error, give_up=give_up
    )
    if not error:
        return "delivered"
    log.warning(
        "Webhook delivery %s (attempt %d) to %s failed: %s",
        delivery.pk, delivery.attempts, endpoint.url, error,
    )
    if give_up:
        return "failed"
    raise self.retry(countdown=min(2 ** delivery.attempts * 10, 3600))
