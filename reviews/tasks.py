"""Celery tasks of the reviews app: adapters that call one service each (see STYLE.md)."""

from __future__ import annotations

from celery import shared_task

from reviews.integrity import integrity_checkpoint_create
from reviews.storage_services import evidence_spool_sync as evidence_spool_sync_service


@shared_task(name="reviews.integrity_checkpoint", acks_late=True)
def integrity_checkpoint() -> int:
    """Sign a checkpoint over the log; a repeat with nothing new reuses the last one."""
    return integrity_checkpoint_create().tree_size


@shared_task(name="reviews.evidence_spool_sync", acks_late=True)
def evidence_spool_sync() -> dict[str, object]:
    """Upload spooled evidence in order. Idempotent: one object name per frame."""
    result = evidence_spool_sync_service()
    return {"stored": result.stored, "remaining": result.remaining, "error": result.error}
