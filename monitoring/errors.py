"""Errors raised by the streaming services. Consumers turn them into close codes or error
messages (docs/streaming.md), tasks into retries or quarantine."""


class MonitoringError(Exception):
    """Base class: the message says what went wrong and what to do."""


class TicketInvalid(MonitoringError):
    """The stream ticket is unknown, expired, already used or for another purpose."""


class SessionNotFound(MonitoringError):
    """No such session, or not the requester's (forbidden looks like missing)."""


class SessionNotStreaming(MonitoringError):
    """The exam session is not in a state that allows this stream (e.g. it has ended)."""


class FrameRejected(MonitoringError):
    """A message is refused for good: resending it will not help."""

    code = "rejected"


class FrameTooLarge(FrameRejected):
    code = "too_large"


class FrameNotAnImage(FrameRejected):
    code = "not_an_image"


class FrameMalformed(FrameRejected):
    code = "malformed"


class SequenceOutOfRange(MonitoringError):
    """A sequence number or capture time no page could have produced yet."""

    code = "far_future"


class EvidenceStorageError(MonitoringError):
    """Evidence could be stored neither in the object store nor in the local spool."""


class SpoolCorrupted(EvidenceStorageError):
    """A spooled evidence file no longer opens under its session's key."""


class ObservationInvalid(MonitoringError):
    """A frame's measurements are not storable (negative count, naive time, not finite)."""
