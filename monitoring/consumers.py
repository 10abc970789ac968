"""WebSocket consumers: the student's stream (camera check and exam) and the live view.

They authenticate, validate and enqueue; nothing else (STYLE.md). Every database call goes
through ``database_sync_to_async``; decoding and anonymizing happen in Celery tasks (or the
embedded worker thread). Close codes and messages are documented in docs/streaming.md.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.utils import timezone

from audit.actions import AuditAction, stream_duplicate_action, stream_rejected_action
from monitoring import protocol, selectors, services, tasks
from monitoring.analysis import check_frame_header
from monitoring.errors import (
    FrameMalformed,
    FrameNotAnImage,
    FrameRejected,
    FrameTooLarge,
    SequenceOutOfRange,
    SessionNotFound,
    SessionNotStreaming,
    TicketInvalid,
)
from monitoring.models import Receipt, StreamTicket
from monitoring.vision.errors import ImageTooLarge, VisionError

logger = logging.getLogger(__name__)

AUTH_TIMEOUT_S = 10
# How often an idle socket re-checks that its session is still running.
STATE_CHECK_EVERY_S = 5
# A receipt still unprocessed this long after it was handed to the broker is assumed lost
# (a broker restart, a worker killed) and the resent message is enqueued again; the task's
# claim makes the second copy harmless if the first one was only slow.
REENQUEUE_AFTER_S = 15
# A page cannot have captured more frames than time allows; slack for clock skew.
SEQ_SLACK = 120
# Past this many refused messages (rate limit) in one connection, the socket is closed.
MAX_REFUSALS = 200
# Capture times may lie this far in the future of the server's clock (after the offset the
# page reported at connect).
MAX_CLOCK_AHEAD_MS = 60_000


class TokenBucket:
    """A per-connection rate limit; one connection per session (a new one replaces it)."""

    def __init__(self, rate_per_s: float, burst: float) -> None:
        self.rate, self.burst = rate_per_s, burst
        self.tokens, self.at = burst, time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


class StudentStreamConsumer(AsyncWebsocketConsumer):
    """``/ws/monitoring/stream/``: the page authenticates with its first message, then sends
    frames (binary) and events (JSON); it gets ``accepted`` when the broker has a message and
    ``ack`` once it is committed, and only then deletes its outbox copy."""

    session_id: str | None = None
    purpose: str | None = None
    # Messages per second beyond twice the exam's frame rate (events, resends), and the
    # burst a reconnecting page may send at once; the page paces resends below this.
    rate_extra_per_s = 12.0
    rate_burst = 60.0

    async def dispatch(self, message: dict[str, Any]) -> None:
        """As channels' own, without its ``aclose_old_connections()`` before each message:
        that is a hop to the sync thread per frame (9% of Daphne's time at 500 frames/s),
        and every database call here goes through ``database_sync_to_async``, which closes
        old connections itself."""
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def connect(self) -> None:
        self.user = self.scope.get("user")
        self.refusals = 0
        self.audited: set[str] = set()
        self.timers: list[asyncio.Task] = []
        await self.accept()
        if self.user is None or not self.user.is_authenticated:
            await self._refuse(
                protocol.CLOSE_UNAUTHENTICATED, AuditAction.STREAM_CONNECT_REFUSED,
                "Not logged in; log in again and reload the exam page.",
            )
            return
        self.timers.append(asyncio.ensure_future(self._auth_timeout()))

    async def disconnect(self, code: int) -> None:
        for timer in self.timers:
            timer.cancel()
        if self.session_id is not None:
            await self.channel_layer.group_discard(
                services.stream_group(self.session_id), self.channel_name
            )
            await self.channel_layer.group_discard(
                services.user_group(self.user.pk), self.channel_name
            )
            if self.purpose == StreamTicket.Purpose.EXAM:
                await database_sync_to_async(services.live_state_connection)(
                    session_id=self.session_id, is_connected=False
                )

    # --- Receiving ---------------------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None):
        if self.session_id is None:
            await self._authenticate(text_data)
            return
        if bytes_data is not None:
            await self._receive_frame(bytes_data)
        elif text_data is not None:
            await self._receive_json(text_data)

    async def _authenticate(self, text_data: str | None) -> None:
        try:
            message = json.loads(text_data or "")
            ticket, session_id = str(message["ticket"]), str(uuid.UUID(str(message["session"])))
            client_ms = float(message.get("client_ms") or 0)
            if message.get("type") != "auth":
                raise ValueError("not an auth message")
        except (ValueError, KeyError, TypeError):
            await self._refuse(
                protocol.CLOSE_BAD_REQUEST, AuditAction.STREAM_AUTH_REFUSED,
                "The first message must be {type: 'auth', session, ticket}.",
            )
            return
        try:
            session, purpose = await database_sync_to_async(services.ticket_redeem)(
                token=ticket, user=self.user, session_id=session_id
            )
        except TicketInvalid as exc:
            await self._refuse(protocol.CLOSE_UNAUTHENTICATED, AuditAction.STREAM_AUTH_REFUSED,
                               str(exc), session_id=session_id)
            return
        except SessionNotFound as exc:
            await self._refuse(protocol.CLOSE_NOT_FOUND, AuditAction.STREAM_AUTH_REFUSED,
                               str(exc), session_id=session_id)
            return
        except SessionNotStreaming as exc:
            await self._refuse(protocol.CLOSE_SESSION_ENDED, AuditAction.STREAM_AUTH_REFUSED,
                               str(exc), session_id=session_id)
            return
        for timer in self.timers:
            timer.cancel()
        self.session_id, self.purpose = str(session.pk), purpose
        self.exam_fps = session.exam.frame_rate_fps
        self.started_at = session.started_at
        self.clock_offset_ms = (time.time() * 1000 - client_ms) if client_ms else 0.0
        # Resends after a reconnect come in bursts; the page paces them (see stream.js).
        self.bucket = TokenBucket(
            rate_per_s=2 * self.exam_fps + self.rate_extra_per_s, burst=self.rate_burst
        )
        # Newest socket wins: a second tab or a stale socket of a reloaded page is closed.
        await self.channel_layer.group_send(
            services.stream_group(self.session_id),
            {"type": "stream.replace", "channel": self.channel_name},
        )
        await self.channel_layer.group_add(services.stream_group(self.session_id),
                                           self.channel_name)
        await self.channel_layer.group_add(services.user_group(self.user.pk), self.channel_name)
        ready: dict[str, Any] = {"type": "ready", "mode": purpose, "fps": self.exam_fps}
        if purpose == StreamTicket.Purpose.EXAM:
            await database_sync_to_async(services.live_state_connection)(
                session_id=self.session_id, is_connected=True,
                clock_offset_ms=self.clock_offset_ms,
            )
            ready.update(await self._contiguous())
        await self.send(text_data=json.dumps(ready))
        self.timers.append(asyncio.ensure_future(self._watch_session()))

    async def _receive_frame(self, message: bytes) -> None:
        stream = Receipt.Stream.FRAME
        seq: int | None = _peek_seq(message)
        # The rate limit comes first: a flood of bad messages must not cost more than a
        # flood of good ones (nor write an audit row each).
        if not self.bucket.take():
            await self._rate_limited(stream, seq)
            return
        try:
            if len(message) > settings.PROCTOR_MAX_FRAME_BYTES + protocol.HEADER_BYTES:
                # The seq (peeked above) lets the page drop that frame for good.
                raise FrameTooLarge(
                    f"The frame has {len(message)} bytes; the limit is "
                    f"{settings.PROCTOR_MAX_FRAME_BYTES} bytes. Encode at JPEG quality 0.7 and "
                    "at most 640 px on the longest side."
                )
            header, image = protocol.parse_frame(message)
            seq = header.seq
            if str(header.session_id) != self.session_id:
                seq = None  # not this session's sequence: record nothing against it
                raise FrameMalformed(
                    f"The frame names session {header.session_id}, but this socket streams "
                    f"session {self.session_id}."
                )
            self._check_sequence(stream, header.seq, header.captured_ms)
            try:
                check_frame_header(image)
            except ImageTooLarge as exc:
                raise FrameTooLarge(str(exc)) from exc
            except VisionError as exc:
                raise FrameNotAnImage(str(exc)) from exc
        except SequenceOutOfRange as exc:
            await self._error(stream, seq, exc.code, str(exc),
                              audit=AuditAction.STREAM_FRAME_REFUSED)
            return
        except FrameRejected as exc:
            await self._reject(stream, seq, exc)
            return
        if self.purpose == StreamTicket.Purpose.CHECK:
            await tasks.enqueue(
                tasks.preview_frame, session_id=self.session_id,
                reply_channel=self.channel_name, image=image,
            )
            return
        await self._accept(
            stream, header.seq, header.captured_ms, tasks.process_frame,
            image=image,
        )

    async def _receive_json(self, text_data: str) -> None:
        stream = Receipt.Stream.EVENT
        try:
            if len(text_data) > protocol.MAX_EVENT_BYTES:
                raise FrameTooLarge(
                    f"A JSON message may have {protocol.MAX_EVENT_BYTES} bytes; this one has "
                    f"{len(text_data)}."
                )
            message = json.loads(text_data)
            if not isinstance(message, dict):
                raise FrameMalformed("JSON messages are objects with a 'type'.")
        except (ValueError, FrameRejected) as exc:
            await self._error(stream, None, "malformed", str(exc),
                              audit=AuditAction.STREAM_EVENT_REFUSED)
            return
        kind = message.get("type")
        if kind in ("event", "sync") and not self.bucket.take():
            seq = message.get("seq") if isinstance(message.get("seq"), int) else None
            await self._rate_limited(stream, seq)
            return
        if kind == "sync":
            await self.send(text_data=json.dumps({"type": "sync", **await self._contiguous()}))
            return
        if kind == "status":
            buffered = message.get("buffered")
            if isinstance(buffered, int) and self.purpose == StreamTicket.Purpose.EXAM:
                await database_sync_to_async(services.live_state_connection)(
                    session_id=self.session_id, is_connected=True, buffered=buffered
                )
            return
        if kind == "ping":
            await self.send(text_data=json.dumps({"type": "pong"}))
            return
        if kind != "event" or self.purpose != StreamTicket.Purpose.EXAM:
            await self._error(stream, None, "malformed", f"Unknown message type {kind!r}.",
                              audit=AuditAction.STREAM_EVENT_REFUSED)
            return
        seq, name, captured_ms = message.get("seq"), message.get("kind"), message.get("t")
        detail = message.get("detail") if isinstance(message.get("detail"), dict) else {}
        if not isinstance(seq, int) or seq < 1 or not isinstance(captured_ms, int | float):
            await self._error(stream, None, "malformed",
                              "An event needs an integer seq >= 1 and a time t in ms.",
                              audit=AuditAction.STREAM_EVENT_REFUSED)
            return
        if name not in services.EVENT_KINDS:
            await self._reject(stream, seq, FrameMalformed(f"Unknown browser event {name!r}."))
            return
        try:
            self._check_sequence(stream, seq, float(captured_ms))
        except SequenceOutOfRange as exc:
            await self._error(stream, seq, exc.code, str(exc),
                              audit=AuditAction.STREAM_EVENT_REFUSED)
            return
        await self._accept(
            stream, seq, float(captured_ms), tasks.process_event, kind=name,
            detail={"active": bool(detail.get("active"))} if name == services.VOICE_EVENT else {},
        )

    # --- Validation and acceptance -----------------------------------------------------

    def _check_sequence(self, stream: str, seq: int, captured_ms: float) -> None:
        now_ms = time.time() * 1000
        if captured_ms + self.clock_offset_ms > now_ms + MAX_CLOCK_AHEAD_MS:
            raise SequenceOutOfRange(
                f"{stream} {seq} claims a capture time in the future; check the device clock."
            )
        if self.purpose != StreamTicket.Purpose.EXAM or self.started_at is None:
            return
        elapsed_s = max(0.0, (timezone.now() - self.started_at).total_seconds())
        per_s = self.exam_fps if stream == Receipt.Stream.FRAME else 10
        limit = int(elapsed_s * per_s) + SEQ_SLACK
        if seq > limit:
            raise SequenceOutOfRange(
                f"{stream} {seq} is further ahead than {elapsed_s:.0f} s of exam allow "
                f"(at most {limit}); sequence numbers count from 1 at the start."
            )

    async def _accept(self, stream: str, seq: int, captured_ms: float, task, **payload) -> None:
        kwargs = {"session_id": self.session_id, "seq": seq, "captured_ms": captured_ms,
                  **payload}
        claim = {
            "session_id": self.session_id, "stream": stream, "seq": seq,
            "captured_at": datetime.fromtimestamp(
                (captured_ms + self.clock_offset_ms) / 1000, tz=UTC
            ),
            "reenqueue_after_s": REENQUEUE_AFTER_S,
        }
        if settings.CELERY_TASK_ALWAYS_EAGER:
            outcome = await database_sync_to_async(services.receipt_claim_new)(**claim)
            if outcome in ("new", "stale"):
                await tasks.enqueue(task, **kwargs)
        else:
            # With the other sockets' messages: one receipt statement and one Redis
            # pipeline per batch, in arrival order (tasks.Publisher).
            outcome = await tasks.publisher().submit(task, kwargs, claim)
        if outcome == "duplicate":
            # A replay of something already done: acknowledged, not processed again.
            await self.send(text_data=json.dumps(
                {"type": "ack", "stream": stream, "seq": seq, "duplicate": True}
            ))
            if self._first("duplicate"):
                await self._audit(stream_duplicate_action(stream),
                                  f"{stream} {seq} was already received; not processed again.",
                                  {"seq": seq})
            return
        await self.send(text_data=json.dumps({"type": "accepted", "stream": stream, "seq": seq}))

    async def _contiguous(self) -> dict[str, int]:
        frame = await database_sync_to_async(selectors.receipt_highest_contiguous)(
            session_id=self.session_id, stream=Receipt.Stream.FRAME
        )
        event = await database_sync_to_async(selectors.receipt_highest_contiguous)(
            session_id=self.session_id, stream=Receipt.Stream.EVENT
        )
        return {"frame": frame, "event": event}

    # --- Refusals ----------------------------------------------------------------------

    def _first(self, key: str) -> bool:
        """True the first time ``key`` is seen on this socket: each kind of refusal is
        audited once per socket, so a misbehaving page cannot flood the audit trail."""
        if key in self.audited:
            return False
        self.audited.add(key)
        return True

    async def _audit(self, action: AuditAction, reason: str, detail: dict[str, Any] | None = None,
                     session_id: str | None = None) -> None:
        await database_sync_to_async(services.stream_refusal_record)(
            actor=self.user, session_id=session_id or self.session_id, action=action,
            reason=reason, detail={"client": _client(self.scope), **(detail or {})},
        )

    async def _refuse(self, code: int, action: AuditAction, reason: str,
                      session_id: str | None = None) -> None:
        """Audit, tell the page why, and close with ``code``."""
        await self._audit(action, reason, {"close_code": code}, session_id=session_id)
        await self.send(text_data=json.dumps({"type": "closing", "code": code, "message": reason}))
        await self.close(code=code)

    async def _reject(self, stream: str, seq: int | None, exc: FrameRejected) -> None:
        """A message refused for good: the page drops it (when it has a seq) and goes on."""
        should_audit = self._first(f"rejected:{stream}:{exc.code}")
        if seq is not None and self.purpose == StreamTicket.Purpose.EXAM:
            await database_sync_to_async(services.receipt_reject)(
                session_id=self.session_id, stream=stream, seq=seq, actor=self.user,
                reason=str(exc), code=exc.code, audit=should_audit,
            )
        elif should_audit:
            await self._audit(stream_rejected_action(stream), str(exc), {"seq": seq,
                                                                     "code": exc.code})
        await self.send(text_data=json.dumps(
            {"type": "reject", "stream": stream, "seq": seq, "code": exc.code,
             "message": str(exc)}
        ))

    async def _error(self, stream: str, seq: int | None, code: str, message: str, *,
                     audit: AuditAction) -> None:
        """A message refused for now: no ack, the page keeps it and may send it again."""
        if self._first(f"{audit}:{code}"):
            await self._audit(audit, message, {"seq": seq, "code": code})
        await self.send(text_data=json.dumps(
            {"type": "error", "stream": stream, "seq": seq, "code": code, "message": message}
        ))

    async def _rate_limited(self, stream: str, seq: int) -> None:
        self.refusals += 1
        if self._first("rate"):
            await self._audit(AuditAction.STREAM_RATE_LIMITED,
                              "Messages arrive faster than the rate limit; slow down.",
                              {"seq": seq})
        if self.refusals > MAX_REFUSALS:
            await self._refuse(protocol.CLOSE_FLOOD, AuditAction.STREAM_FLOOD_CLOSED,
                               f"More than {MAX_REFUSALS} messages over the rate limit.")
            return
        await self.send(text_data=json.dumps(
            {"type": "error", "stream": stream, "seq": seq, "code": "rate_limited",
             "message": "Too many messages; this one was not accepted, send it again later."}
        ))

    # --- Timers and group messages -----------------------------------------------------

    async def _auth_timeout(self) -> None:
        await asyncio.sleep(AUTH_TIMEOUT_S)
        if self.session_id is None:
            await self._refuse(protocol.CLOSE_AUTH_TIMEOUT, AuditAction.STREAM_AUTH_REFUSED,
                               f"No ticket within {AUTH_TIMEOUT_S} s.")

    async def _watch_session(self) -> None:
        streamable = services.STREAMABLE_STATES[StreamTicket.Purpose(self.purpose)]
        while True:
            await asyncio.sleep(STATE_CHECK_EVERY_S)
            state = await database_sync_to_async(selectors.session_state)(
                session_id=self.session_id
            )
            if state not in streamable:
                await self._end(state)
                return

    async def _end(self, state: str | None) -> None:
        if self.purpose == StreamTicket.Purpose.EXAM:
            await tasks.enqueue(
                tasks.finish_session, session_id=self.session_id
            )
        await self.send(text_data=json.dumps({
            "type": "closing", "code": protocol.CLOSE_SESSION_ENDED,
            "message": f"The session is {state or 'gone'}; streaming has stopped.",
        }))
        await self.close(code=protocol.CLOSE_SESSION_ENDED)

    async def stream_ack(self, event: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(
            {"type": "ack", "stream": event["stream"], "seq": event["seq"]}
        ))

    async def stream_preview(self, event: dict[str, Any]) -> None:
        if event.get("jpeg_b64"):
            await self.send(bytes_data=base64.b64decode(event["jpeg_b64"]))
        else:
            await self.send(text_data=json.dumps(
                {"type": "error", "code": "preview_failed", "message": event.get("error", "")}
            ))

    async def stream_replace(self, event: dict[str, Any]) -> None:
        if event.get("channel") != self.channel_name:
            await self.send(text_data=json.dumps({
                "type": "closing", "code": protocol.CLOSE_REPLACED,
                "message": "This exam was opened in another tab or window.",
            }))
            await self.close(code=protocol.CLOSE_REPLACED)

    async def stream_end(self, event: dict[str, Any]) -> None:
        await self._end(event.get("state"))

    async def user_logout(self, event: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps({
            "type": "closing", "code": protocol.CLOSE_LOGGED_OUT, "message": "You logged out.",
        }))
        await self.close(code=protocol.CLOSE_LOGGED_OUT)


class LiveViewConsumer(AsyncWebsocketConsumer):
    """``/ws/monitoring/live/``: reviewers get a row per in-progress session of their
    courses, then every change to it. Read-only; staff only (exams/permissions.py)."""

    groups_joined: list[str]

    async def connect(self) -> None:
        self.groups_joined = []
        user = self.scope.get("user")
        await self.accept()
        course_ids = (
            await database_sync_to_async(selectors.course_ids_for_live_view)(user=user)
            if user is not None and user.is_authenticated
            else []
        )
        if not course_ids:
            await self.close(code=protocol.CLOSE_NOT_FOUND)
            return
        self.groups_joined.append(services.user_group(user.pk))
        await self.channel_layer.group_add(services.user_group(user.pk), self.channel_name)
        for course_id in course_ids:
            group = services.live_group(course_id)
            await self.channel_layer.group_add(group, self.channel_name)
            self.groups_joined.append(group)
        rows = await database_sync_to_async(selectors.live_rows_for_staff)(user=user)
        await self.send(text_data=json.dumps({"type": "snapshot", "rows": rows}))

    async def disconnect(self, code: int) -> None:
        for group in self.groups_joined:
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None):
        """The live view only listens."""

    async def live_update(self, event: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps({"type": "update", "row": event["row"]}))

    async def user_logout(self, event: dict[str, Any]) -> None:
        await self.close(code=protocol.CLOSE_LOGGED_OUT)


def _peek_seq(message: bytes) -> int | None:
    """The sequence number in a frame's header, if it has a readable one."""
    if len(message) >= protocol.HEADER_BYTES and message[:4] == protocol.FRAME_MAGIC:
        return int.from_bytes(message[20:24], "big") or None
    return None


def _client(scope: dict[str, Any]) -> dict[str, Any]:
    headers = dict(scope.get("headers") or [])
    return {
        "origin": headers.get(b"origin", b"").decode("latin-1")[:200],
        "path": scope.get("path", ""),
    }
