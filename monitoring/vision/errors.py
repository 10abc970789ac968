"""Typed errors raised by the vision pipeline.

Every error derives from :class:`VisionError`, so an adapter (HTTP view, WebSocket
consumer, Celery task, management command) can translate the whole family once at its
edge. Messages say what went wrong, with which value, and what the caller can do.
"""


class VisionError(Exception):
    """Base class of every error raised by ``monitoring.vision``."""


class UnsupportedFormat(VisionError):
    """The bytes are not a JPEG, PNG or WebP image (decided by magic bytes)."""


class ImageTooLarge(VisionError):
    """The image exceeds a byte, width, height or pixel-count limit."""


class CorruptImage(VisionError):
    """The bytes claim a supported format but cannot be parsed or decoded."""


class ModelUnavailable(VisionError):
    """A vendored model file is missing or cannot be loaded."""


class DetectionFailed(VisionError):
    """A face detector raised while analysing a frame."""


class UnsupportedMedia(VisionError):
    """A media file (e.g. a video container) cannot be read by the pipeline."""


class InvalidPolicy(VisionError, ValueError):
    """An anonymization policy value is out of range."""
