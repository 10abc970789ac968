"""Rewrap every session data key under the key ring's active KEK, resumably.

Add the new KEK to PROCTOR_KEYRING with a higher version (keep the old ones), restart,
then run this. It rewraps in small batches, each its own transaction, and can be stopped
and started again at any time; the encrypted data is never read or rewritten. When it
reports 0 keys left on old versions, the old KEKs can be removed from the ring.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand
from django.db.models import Count

from audit.actions import AuditAction
from audit.services import audit_record
from privacy import crypto, keys
from privacy.models import SessionKey


class Command(BaseCommand):
    help = "Rewrap session data keys under the active key-encryption key (resumable)."

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=100)
        parser.add_argument(
            "--max-batches", type=int, default=0,
            help="Stop after this many batches (0: until done). For maintenance windows.",
        )

    def handle(self, *args, batch_size: int, max_batches: int, **options):
        ring = crypto.keyring()
        if ring.is_development:
            self.stderr.write("Warning: rotating under the development key ring.")
        self.stdout.write(f"Active key version: {ring.active_version}")
        total = batches = 0
        while True:
            done = keys.session_key_rewrap_batch(batch_size=batch_size)
            total += done
            batches += 1
            if done:
                self.stdout.write(f"  rewrapped {total} keys so far")
            if not done or (max_batches and batches >= max_batches):
                break
        left = dict(
            SessionKey.objects.filter(shredded_at__isnull=True)
            .exclude(kek_version=ring.active_version)
            .values_list("kek_version")
            .annotate(n=Count("pk"))
        )
        audit_record(
            actor=None, action=AuditAction.PRIVACY_KEYS_ROTATE,
            detail={"active_version": ring.active_version, "rewrapped": total,
                    "left_by_version": {str(k): v for k, v in left.items()}},
        )
        if left:
            self.stdout.write(
                f"Rewrapped {total}; still on old versions: {left}. Run again to finish."
            )
        else:
            self.stdout.write(self.style.SUCCESS(
                f"Rewrapped {total}; every data key is on version {ring.active_version}. "
                "Older versions may now be removed from PROCTOR_KEYRING."
            ))
