"""Crypto-shred every exam session whose retention period is over (the beat task's work).

The Celery beat task `privacy.apply_retention` runs the same service hourly; the demo and
operators run this command.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand
from django.utils import timezone

from lifecycle import selectors
from lifecycle.services import retention_apply


class Command(BaseCommand):
    help = "Shred sessions past their exam's retention period; purge expired originals."

    def add_arguments(self, parser):
        parser.add_argument("--limit", type=int, default=0, help="Most sessions per run.")
        parser.add_argument(
            "--dry-run", action="store_true", help="List the sessions due; change nothing."
        )

    def handle(self, *args, limit: int, dry_run: bool, **options):
        if dry_run:
            due = selectors.sessions_due_for_retention(now=timezone.now())
            held = set(selectors.sessions_with_open_review(due).values_list("pk", flat=True))
            for session in due:
                note = " (held: review open)" if session.pk in held else ""
                self.stdout.write(f"  due {session.pk} ended {session.ended_at:%Y-%m-%d}{note}")
            self.stdout.write(f"{due.count()} session(s) due; nothing changed (dry run).")
            return
        report = retention_apply(limit=limit or None)
        self.stdout.write(
            f"Shredded {len(report.shredded)} session(s); held {len(report.held)} under an "
            f"open review; purged {report.originals_purged} original frame(s)."
        )
        for session_id in report.shredded:
            self.stdout.write(f"  shredded {session_id}")
        for session_id in report.held:
            self.stdout.write(f"  held {session_id} (review open)")
