"""Reviewers' decisions on incidents and students' appeals."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from exams.models import ExamSession
from monitoring.models import Incident
from privacy.fields import EncryptedTextField


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
