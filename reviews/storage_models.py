"""Evidence waiting in the local encrypted spool because the object store was unreachable.

A row here means: the bytes are on local disk, encrypted, fsynced, and not yet in the
object store. No Evidence row exists for them until the sync task has stored them, so
nothing is shown as present before it is durable where it belongs.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from exams.models import ExamSession


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
