"""Tables of the tamper-evident log: the leaves and the signed checkpoints (tree heads).

Both are append-only. On PostgreSQL, triggers (migration 0002) refuse UPDATE, DELETE and
TRUNCATE; anywhere, `manage.py verify_integrity` detects a change made by someone who
got around them. Nothing personal is stored in plain text here: a leaf holds kinds, ids,
times and digests (of ciphertext once evidence is encrypted), so erasing a student's data
by destroying their session key (crypto-shredding) never needs a leaf removed.
"""

from __future__ import annotations

from django.db import models


class IntegrityLeaf(models.Model):
    """One entry of the log. ``body`` is the canonical JSON that ``leaf_hash`` covers.

    The plain columns (kind, session, times) repeat fields of ``body`` for querying; the
    verifier checks that they agree with it.
    """

    index = models.BigIntegerField(primary_key=True, help_text="Position in the tree, from 0.")
    kind = models.CharField(max_length=64, db_index=True)
    session_id = models.UUIDField(null=True, blank=True, db_index=True)
    session_seq = models.PositiveIntegerField(
        null=True, blank=True, help_text="Position among this session's entries, from 0."
    )
    created_at = models.DateTimeField()
    body = models.TextField(help_text="Canonical JSON of the entry (what the leaf hash covers).")
    leaf_hash = models.BinaryField(max_length=32)
    key_id = models.CharField(max_length=16, help_text="The key whose MAC key sealed the row.")
    mac = models.BinaryField(
        max_length=32, help_text="HMAC-SHA256 of the leaf hash, so a row edit names itself."
    )

    class Meta:
        ordering = ["index"]
        constraints = [
            models.UniqueConstraint(
                fields=["session_id", "session_seq"], name="uniq_integrity_session_seq"
            ),
            models.CheckConstraint(
                condition=models.Q(index__gte=0), name="integrity_index_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.index} {self.kind}"


class IntegrityCheckpoint(models.Model):
    """A signed tree head: the root over the first ``tree_size`` leaves, signed Ed25519."""

    origin = models.CharField(max_length=200)
    tree_size = models.BigIntegerField()
    root_hash = models.BinaryField(max_length=32)
    timestamp = models.CharField(max_length=40, help_text="ISO 8601 UTC, as signed.")
    key_id = models.CharField(max_length=16)
    signature = models.BinaryField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["tree_size", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(tree_size__gte=0), name="integrity_checkpoint_size_not_negative"
            )
        ]

    def __str__(self) -> str:
        return f"Checkpoint of {self.tree_size} leaves at {self.timestamp}"
