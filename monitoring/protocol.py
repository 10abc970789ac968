"""The wire format of the student stream (see docs/streaming.md). Pure; no Django.

A webcam frame is one binary WebSocket message: a 32-byte header, then the image::

    0   4 bytes  magic b"PFR1"
    4  16 bytes  exam session id (UUID, raw bytes)
    20  4 bytes  sequence number, unsigned, big-endian, from 1
    24  8 bytes  capture time, ms since the Unix epoch, IEEE double, big-endian
    32  ...      JPEG (or PNG/WebP) bytes

Everything else is a JSON text message with a ``type``.
"""

from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass

from monitoring.errors import FrameMalformed

FRAME_MAGIC = b"PFR1"
HEADER = struct.Struct(">4s16sId")
HEADER_BYTES = HEADER.size  # 32

# Close codes (4000-4999 are the application's; RFC 6455 section 7.4.2).
CLOSE_BAD_REQUEST = 4400  # the first message was not a valid auth message
CLOSE_UNAUTHENTICATED = 4401  # not logged in, or the ticket is missing/expired/used
CLOSE_NOT_FOUND = 4404  # no such session, or not yours (forbidden looks like missing)
CLOSE_AUTH_TIMEOUT = 4408  # no auth message within AUTH_TIMEOUT_S
CLOSE_SESSION_ENDED = 4409  # the session is not (or no longer) in a streamable state
CLOSE_REPLACED = 4410  # another socket opened for the same session
CLOSE_LOGGED_OUT = 4411  # the user logged out
CLOSE_FLOOD = 4429  # kept sending past the rate limit after being told

MAX_EVENT_BYTES = 4096


@dataclass(frozen=True)
class FrameHeader:
    session_id: uuid.UUID
    seq: int
    captured_ms: float


def parse_frame(message: bytes) -> tuple[FrameHeader, bytes]:
    """Split a binary message into its header and image; raises FrameMalformed."""
    if len(message) <= HEADER_BYTES:
        raise FrameMalformed(
            f"A frame message needs a {HEADER_BYTES}-byte header and an image; this one has "
            f"{len(message)} bytes."
        )
    magic, raw_id, seq, captured_ms = HEADER.unpack_from(message)
    if magic != FRAME_MAGIC:
        raise FrameMalformed(
            f"A frame message starts with {FRAME_MAGIC!r}, this one with {magic!r}."
        )
    if seq < 1 or captured_ms != captured_ms:  # NaN is not equal to itself
        raise FrameMalformed(f"Sequence numbers start at 1 and times are numbers; got {seq}.")
    return FrameHeader(uuid.UUID(bytes=raw_id), seq, captured_ms), message[HEADER_BYTES:]


def build_frame(session_id: uuid.UUID, seq: int, captured_ms: float, image: bytes) -> bytes:
    """The inverse of ``parse_frame`` (tests, benchmarks and the reference client)."""
    return HEADER.pack(FRAME_MAGIC, session_id.bytes, seq, captured_ms) + image
