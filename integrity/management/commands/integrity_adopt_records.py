"""Log a baseline entry for every row of a logged table that the log has never seen."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from integrity.records import integrity_records_adopt


class Command(BaseCommand):
    help = (
        "Once, after upgrading to record logging (or after seeding data outside the "
        "services): log the current state of every row of a logged table that has no "
        "entry yet, so verify_integrity stops reporting it as inserted. Rows that do "
        "have entries are left alone: an edited or deleted one stays reported."
    )

    def handle(self, *args, **options):
        adopted = integrity_records_adopt()
        total = sum(adopted.values())
        detail = ", ".join(f"{name} {count}" for name, count in adopted.items() if count)
        self.stdout.write(
            f"Adopted {total} row(s) the log had not seen" + (f" ({detail})." if detail else ".")
        )
