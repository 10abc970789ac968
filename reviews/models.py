"""Incidents, their anonymized evidence, reviewers' decisions and the audit trail."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from exams.models import Course, ExamSession
from reviews.privacy.fields import EncryptedBinaryField, EncryptedTextField

# The data keys and lifecycle records are defined in reviews/privacy/models.py; importing
# them here is what makes them models of the reviews app (Django imports only <app>.models).
from reviews.privacy.models import (  # noqa: F401
    BreakGlassGrant,
    ErasureRequest,
    OriginalFrame,
    SessionKey,
    ShredRecord,
)
from reviews.privacy.storage import evidence_storage, evidence_upload_to


class Incident(models.Model):
    """Something a check flagged during a session, for a reviewer to confirm or dismiss.

    Only what must be queried is plain (kind, times, severity, score, status); the details
    a reviewer reads go in ``payload`` (bytes, usually JSON), encrypted under the session's
    data key and bound to this row's ``uid`` (reviews/privacy/fields.py).
    """

    class Kind(models.TextChoices):
        NO_FACE = "no_face", "No face in view"
        MULTIPLE_FACES = "multiple_faces", "More than one face"
        LOOKING_AWAY = "looking_away", "Looking away"
        CAMERA_BLOCKED = "camera_blocked", "Camera blocked or dark"
        CAMERA_FROZEN = "camera_frozen", "Camera frozen"
        SPEECH = "speech", "Speech"
        TAB_HIDDEN = "tab_hidden", "Left the exam tab"
        WINDOW_BLUR = "window_blur", "Left the exam window"
        FULLSCREEN_EXIT = "fullscreen_exit", "Left full screen"
        COPY_PASTE = "copy_paste", "Copy, cut or paste"
        CONTEXT_MENU = "context_menu", "Opened the context menu"
        PAGE_RELOAD = "page_reload", "Reloaded the page"
        CAMERA_ENDED = "camera_ended", "Camera stopped"

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
    payload = EncryptedBinaryField(
        help_text="Details for reviewers, usually JSON bytes (encrypted at rest)."
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
    # Encrypted under the session's data key by the storage (reviews/privacy/storage.py).
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


class ReviewDecision(models.Model):
    """A reviewer's decision: confirm/dismiss one incident, or close the whole review."""

    class Decision(models.TextChoices):
        CONFIRM = "confirm", "Confirm incident"
        DISMISS = "dismiss", "Dismiss incident"
        CLOSE_CLEAR = "close_clear", "Close review: no violation"
        CLOSE_VIOLATION = "close_violation", "Close review: violation"

    session = models.ForeignKey(ExamSession, on_delete=models.CASCADE, related_name="decisions")
    incident = models.ForeignKey(
        Incident, on_delete=models.CASCADE, null=True, blank=True, related_name="decisions"
    )
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="review_decisions"
    )
    decision = models.CharField(max_length=16, choices=Decision.choices)
    uid = models.UUIDField(
        default=uuid.uuid4, unique=True, editable=False,
        help_text="The row's identity in its ciphertexts' associated data.",
    )
    note = EncryptedTextField(help_text="The reviewer's note (encrypted at rest).")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(decision__in=["confirm", "dismiss"], incident__isnull=False)
                    | Q(decision__in=["close_clear", "close_violation"], incident__isnull=True)
                ),
                name="decision_matches_target",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_decision_display()} by {self.reviewer}"


class AuditEvent(models.Model):
    """Who did what, when, to which record, and why. Written by services; never edited."""

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="audit_events",
    )
    action = models.CharField(max_length=64, db_index=True)
    course = models.ForeignKey(
        Course, on_delete=models.SET_NULL, null=True, blank=True, related_name="audit_events"
    )
    session = models.ForeignKey(
        ExamSession,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="audit_events",
    )
    target = models.CharField(max_length=200, blank=True, help_text="e.g. incident:42")
    reason = models.TextField(blank=True)
    detail = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.action} by {self.actor or 'system'}"


class FrameObservation(models.Model):
    """What the vision pipeline measured on one webcam frame; the source of the plots.

    One row per analysed frame, written by ``reviews.services.observation_record`` (the
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


class Appeal(models.Model):
    """A student's response to what was flagged in their session; reviewers read it.

    One per session: the student writes it after the exam, before or after the outcome.
    The text is personal free text, so it is encrypted under the session's data key like
    reviewers' notes, and shredding the session empties it (reviews/receivers.py).
    """

    session = models.OneToOneField(
        ExamSession, on_delete=models.CASCADE, related_name="appeal"
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="appeals"
    )
    uid = models.UUIDField(
        default=uuid.uuid4, unique=True, editable=False,
        help_text="The row's identity in its ciphertexts' associated data.",
    )
    text = EncryptedTextField(help_text="The student's response (encrypted at rest).")
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"Appeal on {self.session_id}"


# The tamper-evident log and the evidence spool live in their own modules; importing them
# here registers their models.
from reviews.integrity_models import IntegrityCheckpoint, IntegrityLeaf  # noqa: E402, F401
from reviews.storage_models import SpooledEvidence  # noqa: E402, F401
