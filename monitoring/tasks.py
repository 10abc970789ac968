"""Celery tasks of the streaming path: each takes ids and bytes, calls one service, and is
idempotent on (session, stream, seq), so ``acks_late`` redelivery is safe.

Frames travel through the broker as raw bytes inside msgpack (never pickle: msgpack, like
JSON, can only describe data); the broker keeps them in memory (Redis) and nothing raw is
written to disk by us. A Daphne process hands the frames of all its sockets to the broker
through one ``Publisher``, in batches: one database statement for their receipts and one
Redis pipeline for their tasks (benchmarks/stream_ingest.py).
In the embedded default (no REDIS_URL, ``CELERY_TASK_ALWAYS_EAGER``), ``enqueue`` runs the
same tasks on one in-process worker thread instead, off the event loop, in arrival order.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import threading
import weakref
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from asgiref.sync import sync_to_async
from celery import Task, current_app, shared_task
from channels.db import database_sync_to_async
from django.conf import settings
from django.db import close_old_connections
from django.db.utils import InterfaceError, OperationalError

from monitoring import evidence, push, services
from monitoring.models import Receipt
from monitoring.vision.errors import VisionError

logger = logging.getLogger(__name__)

# A message whose processing never finishes (it kills or hangs its worker) is delivered at
# most this many times, then quarantined: enough for one or two genuine worker crashes.
MAX_DELIVERIES = 3
# Database hiccups (a PostgreSQL restart, a dropped connection) are retried with backoff.
_TRANSIENT = (OperationalError, InterfaceError)

_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def _embedded_executor() -> ThreadPoolExecutor:
    global _executor
    with _executor_lock:
        if _executor is None:
            # One thread: frames of a session are processed in the order they arrived,
            # and the demo's SQLite sees one writer.
            _executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="proctor-worker")
        return _executor


def _run_embedded(task: Task, kwargs: dict[str, Any]) -> None:
    close_old_connections()
    try:
        task.apply(kwargs=kwargs, throw=False)
    finally:
        close_old_connections()


_running: set[asyncio.Future] = set()


def publish(task: Task, kwargs: dict[str, Any], *, producer: Any = None) -> None:
    """Hand a task to the broker; returns once the broker has it, raises if it cannot.

    The frame's bytes stay out of the task's printed form (logs, monitoring events).
    """
    task.apply_async(
        kwargs=kwargs,
        argsrepr="()",
        kwargsrepr=repr({k: v for k, v in kwargs.items() if not isinstance(v, bytes)}),
        producer=producer,
        retry=True,
        retry_policy={"max_retries": 2, "interval_start": 0.1, "interval_step": 0.2},
    )


def claim_and_publish_many(
    items: list[tuple[Task, dict[str, Any], dict[str, Any]]],
) -> list[str]:
    """Accept messages with a broker: claim their receipts (``services.receipt_claim_many``,
    one statement) and publish those that are new or stale, in one Redis pipeline. If the
    broker does not take them, their receipts are released and the error propagates (the
    sockets close, the pages reconnect and resend). Returns each claim's outcome."""
    outcomes = services.receipt_claim_many([claim for _, _, claim in items])
    due = [item for item, outcome in zip(items, outcomes, strict=True)
           if outcome in ("new", "stale")]
    if not due:
        return outcomes
    try:
        if len(due) == 1:  # alone, a plain publish is cheaper than a batch (measured)
            publish(due[0][0], due[0][1])
        else:
            with current_app.producer_or_acquire() as producer, producer.batch():
                for task, kwargs, _ in due:
                    publish(task, kwargs, producer=producer)
    except Exception:
        for _, _, claim in due:
            services.receipt_release(
                session_id=claim["session_id"], stream=claim["stream"], seq=claim["seq"]
            )
        raise
    return outcomes


# The hand-over thread (started on first use; shared by every event loop of the process).
_publish_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="proctor-publish")


class Publisher:
    """Batches the acceptance of messages from every socket of one event loop.

    Sockets ``await submit(...)``; one hand-over runs at a time on its own thread, taking
    everything queued meanwhile: idle, a message goes alone at once; under load, the batches
    grow by themselves (one receipt statement and one Redis pipeline for many frames), and
    messages reach the broker in the order they arrived.
    """

    MAX_BATCH = 16

    def __init__(self) -> None:
        self._queue: list[tuple[tuple[Task, dict[str, Any], dict[str, Any]],
                                asyncio.Future[str]]] = []
        self._drainer: asyncio.Task[None] | None = None
        self._hand_over = database_sync_to_async(
            claim_and_publish_many, thread_sensitive=False, executor=_publish_executor
        )

    async def submit(self, task: Task, kwargs: dict[str, Any], claim: dict[str, Any]) -> str:
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._queue.append(((task, kwargs, claim), future))
        if self._drainer is None:
            self._drainer = asyncio.ensure_future(self._drain())
        return await future

    async def _drain(self) -> None:
        try:
            while self._queue:
                batch = self._queue[:self.MAX_BATCH]
                del self._queue[:self.MAX_BATCH]
                try:
                    outcomes = await self._hand_over([item for item, _ in batch])
                except Exception as exc:  # each socket handles it (closes, the page resends)
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                else:
                    for (_, future), outcome in zip(batch, outcomes, strict=True):
                        if not future.done():
                            future.set_result(outcome)
        finally:
            self._drainer = None


_publishers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Publisher] = (
    weakref.WeakKeyDictionary()
)


def publisher() -> Publisher:
    """The running event loop's publisher (Daphne runs one loop; tests run several)."""
    loop = asyncio.get_running_loop()
    if loop not in _publishers:
        _publishers[loop] = Publisher()
    return _publishers[loop]


async def enqueue(task: Task, **kwargs: Any) -> None:
    """From a consumer: hand a task to the broker (returns once the broker has it) or, in
    the embedded default, to the in-process worker thread (returns at once).

    Not ``delay_on_commit``: the consumer writes nothing before publishing. It publishes
    first and records the receipt after, so a receipt always means "the broker has it";
    if the publish raises, the page gets no ack and resends. The embedded thread runs
    through ``sync_to_async`` so that the task's channel-layer sends reach this event loop.
    """
    if settings.CELERY_TASK_ALWAYS_EAGER:
        future = asyncio.ensure_future(
            sync_to_async(_run_embedded, thread_sensitive=False, executor=_embedded_executor())(
                task, kwargs
            )
        )
        _running.add(future)
        future.add_done_callback(_running.discard)
        return
    await sync_to_async(publish, thread_sensitive=False)(task, kwargs)


def wait_embedded_idle(timeout_s: float = 60) -> None:
    """Block until the embedded worker thread has run everything queued so far (tests)."""
    if _executor is not None:
        _executor.submit(lambda: None).result(timeout=timeout_s)


def _frame_bytes(image: Any) -> bytes:
    if not isinstance(image, bytes):
        raise VisionError(f"The frame's payload is {type(image).__name__}, not bytes.")
    return image


@shared_task(
    name="monitoring.process_frame",
    serializer="msgpack",
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=_TRANSIENT,
    retry_backoff=True,
    max_retries=5,
)
def process_frame(
    self: Task, *, session_id: str, seq: int, captured_ms: float, image: bytes
) -> dict[str, Any]:
    stream = Receipt.Stream.FRAME
    if not services.receipt_begin_delivery(
        session_id=session_id, stream=stream, seq=seq, max_deliveries=MAX_DELIVERIES
    ):
        return {"processed": False}
    try:
        outcome = services.frame_process(
            session_id=session_id, seq=seq, captured_ms=captured_ms, image=_frame_bytes(image)
        )
    except VisionError as exc:
        # Fail closed: the frame could not be anonymized, so nothing of it is kept.
        logger.warning("session %s: frame %s quarantined: %s", session_id, seq, exc)
        services.receipt_quarantine(session_id=session_id, stream=stream, seq=seq, reason=str(exc))
        return {"processed": False, "quarantined": str(exc)}
    return {"processed": outcome.processed, "faces": outcome.face_count,
            "incidents": list(outcome.incident_events)}


@shared_task(
    name="monitoring.process_event",
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=_TRANSIENT,
    retry_backoff=True,
    max_retries=5,
)
def process_event(
    self: Task, *, session_id: str, seq: int, kind: str, captured_ms: float,
    detail: dict[str, Any] | None = None,
) -> bool:
    stream = Receipt.Stream.EVENT
    if not services.receipt_begin_delivery(
        session_id=session_id, stream=stream, seq=seq, max_deliveries=MAX_DELIVERIES
    ):
        return False
    return services.event_process(
        session_id=session_id, seq=seq, kind=kind, captured_ms=captured_ms, detail=detail
    )


@shared_task(name="monitoring.preview_frame", serializer="msgpack", acks_late=False,
             ignore_result=True)
def preview_frame(*, session_id: str, reply_channel: str, image: bytes) -> None:
    """Anonymize one camera-check frame and send it back to the page's socket (not stored).

    Previews are disposable (the page sends another each second), so they are acked early
    and never retried.
    """
    try:
        jpeg = services.preview_anonymize(session_id=session_id, image=_frame_bytes(image))
        message = {"type": "stream.preview", "jpeg_b64": base64.b64encode(jpeg).decode()}
    except VisionError as exc:
        message = {"type": "stream.preview", "error": str(exc)}
    push.send(reply_channel, message)


@shared_task(name="monitoring.finish_session", acks_late=True, autoretry_for=_TRANSIENT,
             retry_backoff=True, max_retries=5)
def finish_session(*, session_id: str) -> int:
    """Close the incidents still open when a session ends. Idempotent."""
    return services.live_state_finish(session_id=session_id)


# Named as when the spool belonged to the reviews app, so queued messages still find it.
@shared_task(name="reviews.evidence_spool_sync", acks_late=True)
def evidence_spool_sync() -> dict[str, object]:
    """Upload spooled evidence in order. Idempotent: one object name per frame."""
    result = evidence.evidence_spool_sync()
    return {"stored": result.stored, "remaining": result.remaining, "error": result.error}
