"""The records of the GDPR lifecycle.

Shredding records with the non-personal aggregates kept after a session's
data is destroyed, erasure requests, retained original frames and break-glass grants.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from exams.models import Exam, ExamSession, Institution
from privacy.storage import evidence_storage


class ShredRecord(models.Model):
    """What a crypto-shred destroyed and the non-personal aggregates it kept."""

    class Cause(models.TextChoices):
        RETENTION = "retention", "Retention period ended"
        ERASURE = "erasure", "Erasure request"

    session_ref = models.UUIDField(unique=True, help_text="The shredded session's id.")
    exam = models.ForeignKey(Exam, on_delete=models.SET_NULL, null=True, related_name="+")
    cause = models.CharField(max_length=16, choices=Cause.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
        related_name="+",
    )
    aggregates = models.JSONField(
        default=dict, help_text="Counts by incident kind and severity, evidence, outcome."
    )
    objects_deleted = models.PositiveIntegerField(default=0)
    shredded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-shredded_at"]

    def __str__(self) -> str:
        return f"Session {self.session_ref} shredded ({self.get_cause_display()})"


class ErasureRequest(models.Model):
    """A student's right-to-erasure request: requested → approved → completed (or rejected)."""

    class Status(models.TextChoices):
        REQUESTED = "requested", "Requested"
        REJECTED = "rejected", "Rejected"
        COMPLETED = "completed", "Approved and shredded"

    student = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="erasure_requests"
    )
    institution = models.ForeignKey(Institution, on_delete=models.CASCADE, related_name="+")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    requested_at = models.DateTimeField(default=timezone.now)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.REQUESTED)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
        related_name="+",
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.TextField(blank=True)
    sessions_shredded = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-requested_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["student", "institution"],
                condition=Q(status="requested"),
                name="one_open_erasure_request",
            )
        ]

    def __str__(self) -> str:
        return f"Erasure request {self.pk} ({self.get_status_display()})"


def original_upload_to(instance: OriginalFrame, filename: str) -> str:
    # The session id in the path is what the encrypting storage binds the file to.
    return f"originals/{instance.session_id}/{uuid.uuid4().hex}.bin"


class OriginalFrame(models.Model):
    """A raw (un-anonymized) frame, kept encrypted only when the exam opts in, for N days.

    Viewing one needs an approved break-glass grant (lifecycle/services.py).
    """

    session = models.ForeignKey(
        ExamSession, on_delete=models.CASCADE, related_name="original_frames"
    )
    seq = models.PositiveIntegerField()
    captured_at = models.DateTimeField()
    image = models.FileField(upload_to=original_upload_to, storage=evidence_storage,
                             max_length=255, editable=False)
    expires_at = models.DateTimeField(db_index=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["session", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["session", "seq"], name="uniq_original_frame")
        ]

    def __str__(self) -> str:
        return f"Original frame {self.seq} of {self.session_id}"


class BreakGlassGrant(models.Model):
    """Time-limited permission for one staff member to view a session's original frames.

    Needs a stated reason and a second person's approval; the student is told.
    """

    class Status(models.TextChoices):
        REQUESTED = "requested", "Awaiting second approver"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"

    session = models.ForeignKey(
        ExamSession, on_delete=models.CASCADE, related_name="break_glass_grants"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    reason = models.TextField()
    requested_at = models.DateTimeField(default=timezone.now)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.REQUESTED)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
        related_name="+",
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-requested_at"]
        constraints = [
            # The database, too, refuses a grant approved by the person who asked for it.
            models.CheckConstraint(
                condition=Q(approved_by__isnull=True) | ~Q(approved_by=F("requested_by")),
                name="break_glass_second_approver",
            ),
            models.CheckConstraint(
                condition=~Q(status="approved")
                | Q(approved_by__isnull=False, expires_at__isnull=False),
                name="break_glass_approved_is_complete",
            ),
        ]

    def __str__(self) -> str:
        return f"Break-glass on session {self.session_id} ({self.get_status_display()})"

    def is_active(self, at=None) -> bool:
        at = at or timezone.now()
        return (
            self.status == self.Status.APPROVED
            and self.expires_at is not None
            and at < self.expires_at
        )
