"""Data keys of exam sessions, stored only wrapped by a key-encryption key of the key ring."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from exams.models import ExamSession


class SessionKey(models.Model):
    """One exam session's data key, stored only wrapped by a KEK of the key ring.

    Shredding empties ``wrapped_dek`` and stamps ``shredded_at``; the row stays as a
    tombstone so that no new key is ever minted for a shredded session.
    """

    session = models.OneToOneField(
        ExamSession, on_delete=models.CASCADE, primary_key=True, related_name="data_key"
    )
    kek_version = models.PositiveIntegerField(help_text="Key ring version that wraps the key.")
    wrapped_dek = models.BinaryField(editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    rewrapped_at = models.DateTimeField(null=True, blank=True)
    shredded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["kek_version"], name="sessionkey_kek_version")]

    def __str__(self) -> str:
        state = "shredded" if self.shredded_at else f"KEK v{self.kek_version}"
        return f"Data key of session {self.session_id} ({state})"

    @property
    def is_shredded(self) -> bool:
        return self.shredded_at is not None
