"""Streaming bookkeeping: connection tickets, per-message receipts and live session state.

Frames themselves are never stored here: a receipt records only that message ``seq`` of a
session's stream was accepted (and later processed), which is what makes resends after a
disconnect idempotent and lets the page ask for the highest contiguous sequence held.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

from exams.models import ExamSession


class StreamTicket(models.Model):
    """A short-lived, single-use permission to open one streaming socket for one session.

    Only the SHA-256 of the ticket is kept, so a database dump cannot be replayed. The page
    sends the ticket as the first WebSocket message, never in the URL (URLs land in logs).
    """

    class Purpose(models.TextChoices):
        CHECK = "check", "Camera check (preview only)"
        EXAM = "exam", "Exam stream"

    session = models.ForeignKey(ExamSession, on_delete=models.CASCADE, related_name="tickets")
    purpose = models.CharField(max_length=8, choices=Purpose.choices)
    token_sha256 = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["expires_at"], name="ticket_expiry")]

    def __str__(self) -> str:
        return f"{self.get_purpose_display()} ticket for {self.session_id}"


class Receipt(models.Model):
    """One accepted message of a session's stream (a frame, a browser event, audio).

    The unique constraint on (session, stream, seq) is the idempotency key: the consumer and
    the tasks insert with ``ON CONFLICT DO NOTHING`` and processing is claimed with a
    conditional ``UPDATE ... WHERE processed_at IS NULL``, so a resend or a redelivered task
    never counts twice. ``deliveries`` counts task starts across worker crashes; past the
    cap the message is quarantined (``failed_at``) instead of crashing workers forever.
    """

    class Stream(models.TextChoices):
        FRAME = "frame", "Webcam frame"
        EVENT = "event", "Browser event"

    session = models.ForeignKey(ExamSession, on_delete=models.CASCADE, related_name="receipts")
    stream = models.CharField(max_length=8, choices=Stream.choices)
    seq = models.PositiveIntegerField()
    captured_at = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField(default=timezone.now)
    processed_at = models.DateTimeField(null=True, blank=True)
    deliveries = models.PositiveSmallIntegerField(default=0)
    failed_at = models.DateTimeField(null=True, blank=True, help_text="Quarantined.")
    failure = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["session", "stream", "seq"], name="uniq_receipt_session_stream_seq"
            ),
            models.CheckConstraint(condition=Q(seq__gte=1), name="receipt_seq_from_1"),
        ]
        indexes = [
            models.Index(
                fields=["failed_at"],
                name="receipt_quarantined",
                condition=Q(failed_at__isnull=False),
            )
        ]

    def __str__(self) -> str:
        return f"{self.stream} {self.seq} of {self.session_id}"


class LiveState(models.Model):
    """The running state of one session's stream, read by the reviewers' live view.

    ``rules_state`` is the incident rules engine's state as JSON (see monitoring/analysis.py)
    so that any worker can continue where another stopped; its row lock serialises the
    frames of one session.
    """

    session = models.OneToOneField(
        ExamSession, on_delete=models.CASCADE, primary_key=True, related_name="live_state"
    )
    last_frame_seq = models.PositiveIntegerField(default=0)
    last_frame_captured_at = models.DateTimeField(null=True, blank=True)
    last_frame_processed_at = models.DateTimeField(null=True, blank=True)
    face_count = models.PositiveSmallIntegerField(null=True, blank=True)
    frames_processed = models.PositiveIntegerField(default=0)
    buffered = models.PositiveIntegerField(default=0, help_text="Queued in the page, as told.")
    is_connected = models.BooleanField(default=False)
    rules_state = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"Live state of {self.session_id}"
