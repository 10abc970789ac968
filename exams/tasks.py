"""Periodic work for exams. Tasks adapt: they call one service and are idempotent."""

from __future__ import annotations

from celery import shared_task

from exams import services


@shared_task(name="exams.expire_overdue_sessions", acks_late=True)
def expire_overdue_sessions() -> int:
    """Expire sessions whose working time ran out. Safe to run twice or concurrently."""
    return services.session_expire_overdue()
