"""What a proctored session's stream leaves: tickets, receipts, live state, incidents and evidence.

Streaming bookkeeping: connection tickets, per-message receipts and live session state.

Frames themselves are never stored here: a receipt records only that message ``seq`` of a
session's stream was accepted (and later processed), which is what makes resends after a
disconnect idempotent and lets the page ask for the highest contiguous sequence held.
"""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from exams import kinds
from exams.models import ExamSession
from privacy.fields import EncryptedBinaryField
from privacy.storage import evidence_storage, evidence_upload_to


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


class Incident(models.Model):
    """Something a check flagged during a session, for a reviewer to confirm or dismiss.

    Only what must be queried is plain (kind, times, severity, score, status); the details
    a reviewer reads go in ``payload`` (bytes, usually JSON), encrypted under the session's
    data key and bound to this row's ``uid`` (privacy/fields.py).
    """

    # The kinds and their labels come from the one registry (exams/kinds.py).
    Kind = models.TextChoices(
        "Kind", [(k.name.upper(), (k.name, k.label)) for k in kinds.INCIDENT_KINDS.values()]
    )

    class Severity(models.TextChoices):
        LOW = "low", "Low"
        MEDIUM = "medium", "Medium"
        HIGH = "high", "High"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending review"
        CONFIRMED = "confirmed", "Confirmed"
        DISMISSED = "dismissed", "Dismissed"

    session = models.ForeignKey(ExamSession, on_delete=models.CASCADE, related_name="incidents")
    kind = models.CharField(max_length=32, choices=Kind.choices)
    severity = models.CharField(max_length=8, choices=Severity.choices, default=Severity.LOW)
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True, help_text="Empty while still open.")
    score = models.FloatField(default=0.0, help_text="The check's confidence, 0 to 1.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    uid = models.UUIDField(
        default=uuid.uuid4, unique=True, editable=False,
        help_text="The row's identity in its ciphertexts' associated data.",
    )
    # The row's label is bound into every payload's associated data; "monitoring.incident" is
    # where incidents were first stored, so ciphertexts sealed then still open.
    payload = EncryptedBinaryField(
        aad_label="reviews.incident",
        help_text="Details for reviewers, usually JSON bytes (encrypted at rest).",
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["session", "started_at"]
        indexes = [
            models.Index(fields=["session", "started_at"], name="incident_session_time"),
            models.Index(fields=["status", "kind"], name="incident_status_kind"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(ended_at__isnull=True) | Q(ended_at__gte=F("started_at")),
                name="incident_ends_after_start",
            ),
            models.CheckConstraint(
                condition=Q(score__gte=0.0, score__lte=1.0), name="incident_score_0_to_1"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} at {self.started_at:%H:%M:%S}"

    @property
    def is_open(self) -> bool:
        return self.ended_at is None


class Evidence(models.Model):
    """An anonymized image that backs an incident; faces were removed before storage."""

    session = models.ForeignKey(ExamSession, on_delete=models.CASCADE, related_name="evidence")
    incident = models.ForeignKey(
        Incident, on_delete=models.SET_NULL, null=True, blank=True, related_name="evidence"
    )
    seq = models.PositiveIntegerField(help_text="The frame's sequence number in the session.")
    captured_at = models.DateTimeField()
    # Encrypted under the session's data key by the storage (privacy/storage.py).
    image = models.FileField(
        upload_to=evidence_upload_to, storage=evidence_storage, max_length=255
    )
    content_type = models.CharField(max_length=64, default="image/jpeg")
    width = models.PositiveIntegerField(default=0)
    height = models.PositiveIntegerField(default=0)
    sha256 = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "evidence"
        ordering = ["session", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["session", "seq"], name="uniq_evidence_frame")
        ]

    def __str__(self) -> str:
        return f"Frame {self.seq} of {self.session_id}"


class FrameObservation(models.Model):
    """What the vision pipeline measured on one webcam frame; the source of the plots.

    One row per analysed frame, written by ``monitoring.observations.observation_record`` (the
    stream consumer calls it). Only numbers are kept, never the image: the face count,
    the head pose in degrees (yaw: left/right, pitch: up/down) and the iris offset from
    the eye centre, normalised to -1..1 on each axis. A value the pipeline could not
    measure (no face in view) is empty.
    """

    session = models.ForeignKey(
        ExamSession, on_delete=models.CASCADE, related_name="observations"
    )
    seq = models.PositiveIntegerField(help_text="The frame's sequence number in the session.")
    captured_at = models.DateTimeField()
    face_count = models.PositiveSmallIntegerField(default=0)
    yaw_deg = models.FloatField(null=True, blank=True)
    pitch_deg = models.FloatField(null=True, blank=True)
    gaze_x = models.FloatField(null=True, blank=True)
    gaze_y = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["session", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["session", "seq"], name="uniq_observation_frame")
        ]
        indexes = [
            models.Index(fields=["session", "captured_at"], name="observation_session_time")
        ]

    def __str__(self) -> str:
        return f"Observation {self.seq} of {self.session_id}"


class SpooledEvidence(models.Model):
    session = models.ForeignKey(
        ExamSession, on_delete=models.CASCADE, related_name="spooled_evidence"
    )
    incident_id = models.BigIntegerField(null=True, blank=True)
    seq = models.PositiveIntegerField()
    captured_at = models.DateTimeField()
    object_name = models.CharField(max_length=255, unique=True)
    content_type = models.CharField(max_length=64)
    width = models.PositiveIntegerField(default=0)
    height = models.PositiveIntegerField(default=0)
    sha256 = models.CharField(max_length=64)
    size_bytes = models.PositiveIntegerField()
    spool_file = models.CharField(max_length=255, help_text="File name in PROCTOR_SPOOL_DIR.")
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]
        verbose_name_plural = "spooled evidence"
        constraints = [
            models.UniqueConstraint(fields=["session", "seq"], name="uniq_spooled_frame")
        ]

    def __str__(self) -> str:
        return f"Spooled frame {self.seq} of {self.session_id}"
