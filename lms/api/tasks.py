"""Celery task that delivers signed webhooks, with retries and a timeout on the I/O."""

from __future__ import annotations

import logging
import time

import requests
from celery import shared_task
from django.conf import settings
from django.db.models import F

from lms.api.errors import WebhookHostUnresolved, WebhookUrlRefused
from lms.api.services import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    webhook_delivery_record,
    webhook_delivery_refuse,
    webhook_signature,
)
from lms.api.webhook_targets import webhook_post, webhook_url_check
from lms.models import WebhookDelivery

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8


@shared_task(name="lms.api.deliver_webhook", bind=True, acks_late=True, max_retries=None)
def deliver_webhook(self, delivery_id: str) -> str:
    """POST one delivery; retry with exponential backoff up to MAX_ATTEMPTS.

    Idempotent: a delivery that is no longer pending (delivered, or given up) is skipped,
    so a redelivered message (acks_late) does not post twice after a success.

    The URL is checked again on every attempt (its name may now resolve to an internal
    address) and the POST goes to an address that passed; a refused URL fails the
    delivery at once, unsent (lms/api/webhook_targets.py).
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
        target = webhook_url_check(url=endpoint.url)
        status_code = webhook_post(
            target=target, body=body, headers=headers,
            timeout_s=settings.PROCTOR_WEBHOOK_TIMEOUT_S,
        )
        if 300 <= status_code < 400:
            # Following it would send the body somewhere that was never checked.
            error = (
                f"HTTP {status_code}: redirects are not followed; register the URL that "
                "answers directly."
            )
        elif not 200 <= status_code < 300:
            error = f"HTTP {status_code}"
    except WebhookUrlRefused as exc:
        webhook_delivery_refuse(delivery=delivery, reason=str(exc))
        log.warning("Webhook delivery %s not sent: %s", delivery.pk, exc)
        return "refused"
    except WebhookHostUnresolved as exc:
        error = str(exc)  # DNS may be back later: retried like a connection error
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
