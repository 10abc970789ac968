"""Channel-layer sends from synchronous code: Celery workers and the embedded worker thread.

``async_to_sync(layer.group_send)`` starts a thread and an event loop for every call, and
channels-redis keeps its connections per event loop, so each send would also open and close
a Redis connection (about 3 ms of CPU a frame, measured). Instead, each process runs one
event loop on a daemon thread and every send goes through it, over pooled connections.

The in-memory layer of the embedded default lives on Daphne's own event loop, which
``async_to_sync`` reaches from the worker thread; it keeps that path.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Coroutine
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer

SEND_TIMEOUT_S = 5.0


class _LoopThread:
    def __init__(self) -> None:
        self.pid = os.getpid()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(
            target=self.loop.run_forever, name="proctor-channel-layer", daemon=True
        )
        self.thread.start()

    def run(self, coroutine: Coroutine[Any, Any, None], timeout_s: float) -> None:
        future = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        try:
            future.result(timeout=timeout_s)
        except TimeoutError:
            future.cancel()
            raise


_loop_thread: _LoopThread | None = None
_loop_lock = threading.Lock()


def _loop() -> _LoopThread:
    global _loop_thread
    with _loop_lock:
        # A forked child (Celery's prefork pool) has no thread of its parent: start its own.
        if _loop_thread is None or _loop_thread.pid != os.getpid():
            _loop_thread = _LoopThread()
        return _loop_thread


def group_send(group: str, message: dict[str, Any]) -> None:
    """Send ``message`` to a channel group; raises what the layer raises (or TimeoutError
    after ``SEND_TIMEOUT_S``). No-op without a channel layer."""
    _deliver("group_send", group, message)


def send(channel: str, message: dict[str, Any]) -> None:
    """Send ``message`` to one channel (a consumer's reply channel); as ``group_send``."""
    _deliver("send", channel, message)


def _deliver(method: str, target: str, message: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    call = getattr(layer, method)
    if isinstance(layer, InMemoryChannelLayer):
        async_to_sync(call)(target, message)
        return
    _loop().run(call(target, message), SEND_TIMEOUT_S)
