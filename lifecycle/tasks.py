"""Celery tasks of the data lifecycle. Idempotent: shredding a shredded session is a no-op."""

from __future__ import annotations

from celery import shared_task

from lifecycle.services import retention_apply


@shared_task(name="privacy.apply_retention", acks_late=True)
def apply_retention() -> dict[str, int]:
    report = retention_apply()
    return {
        "shredded": len(report.shredded),
        "held": len(report.held),
        "originals_purged": report.originals_purged,
    }
