"""Check the tamper-evident log and the logged tables; exit non-zero naming the first bad
record."""

from __future__ import annotations

import time
import uuid

from django.core.management.base import BaseCommand, CommandError

from integrity.management.commands._integrity_files import read_checkpoint
from integrity.verify import integrity_verify


class Command(BaseCommand):
    help = (
        "Verify every row of the integrity log, its positions, each session's order and "
        "every signed checkpoint (stored, and any published copies given with "
        "--checkpoint), then compare every logged table's rows with their latest logged "
        "state (edited, inserted or deleted rows). Exits 1 and names the first bad record "
        "on any problem."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--session", type=uuid.UUID, help="Check this session's rows and records."
        )
        parser.add_argument(
            "--checkpoint",
            action="append",
            default=[],
            metavar="FILE",
            help="A published checkpoint (JSON) the log must still extend; repeatable.",
        )
        parser.add_argument(
            "--evidence",
            action="store_true",
            help="Also read every stored evidence object and compare it with its logged "
            "SHA-256 (slow: it downloads them).",
        )
        parser.add_argument("--max-problems", type=int, default=20)

    def handle(self, *args, session, checkpoint, evidence, max_problems, **options):
        published = [read_checkpoint(path) for path in checkpoint]
        started = time.perf_counter()
        report = integrity_verify(
            session_id=session, external=published, max_problems=max(1, max_problems),
            read_contents=evidence,
        )
        elapsed_s = time.perf_counter() - started
        if not report.is_intact:
            for problem in report.problems[1:max_problems]:
                self.stderr.write(f"  also: {problem}")
            raise CommandError(
                f"Integrity check FAILED. First bad record: {report.problems[0]} "
                f"({len(report.problems)} problem(s) found)."
            )
        scope = f"session {session}: {report.leaves_checked} rows" if session else (
            f"{report.leaves_checked} rows"
        )
        self.stdout.write(
            f"Integrity OK: {scope} of {report.leaves_total} checked, "
            f"{report.checkpoints_checked} checkpoint(s) match, root "
            f"{report.root_hash.hex()}, {elapsed_s:.2f} s."
        )
        per_type = ", ".join(
            f"{name} {stats.checked}" for name, stats in report.records.items() if stats.checked
        )
        self.stdout.write(
            f"Records: {report.records_checked} row(s) match their latest logged state"
            + (f" ({per_type})" if per_type else "")
            + (
                f", {report.records_erased} erased by shredding or a logged deletion."
                if report.records_erased else "."
            )
        )
        frames = report.records.get("evidence")
        checked, erased = (frames.checked, frames.erased) if frames else (0, 0)
        self.stdout.write(
            f"Evidence: {checked} frame(s) match the log"
            + (" (objects read)" if evidence else " (rows only; --evidence reads objects)")
            + (f", {erased} erased." if erased else ".")
        )
        if report.uncovered_leaves:
            self.stdout.write(
                f"Note: the last {report.uncovered_leaves} leaves are not yet covered by a "
                "signed checkpoint (run `manage.py integrity_checkpoint`)."
            )
