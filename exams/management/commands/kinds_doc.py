"""Print docs/kinds.md from the registry of checks and incident kinds (exams/kinds.py).

    manage.py kinds_doc > docs/kinds.md

A test compares the committed page with this output, so the docs cannot drift.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand

from exams import kinds


def kinds_markdown() -> str:
    lines = [
        "# Checks and incident kinds",
        "",
        "Generated from `exams/kinds.py` by `manage.py kinds_doc`; do not edit by hand.",
        "An exam switches checks on (`Exam.enabled_checks`); an accommodation switches a",
        "check off for one student (`Enrollment.disabled_checks`) where the check allows it.",
        "",
        "| check | label | on by default | an accommodation may waive it | what it watches |",
        "| --- | --- | --- | --- | --- |",
    ]
    for check in kinds.CHECKS.values():
        lines.append(
            f"| `{check.name}` | {check.label} | {'yes' if check.is_default_on else 'no'} | "
            f"{'yes' if check.can_waive else 'no'} | {check.description} |"
        )
    lines += [
        "",
        "| incident kind | label | raised by the check | seen by | default severity | "
        "default weight | meaning |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for kind in kinds.INCIDENT_KINDS.values():
        lines.append(
            f"| `{kind.name}` | {kind.label} | `{kind.check}` | {kind.source} | "
            f"{kind.default_severity} | {kind.default_weight:g} | {kind.description} |"
        )
    lines += [
        "",
        "The weight is what one incident adds to the suspicion score before severity (low",
        "0.5, medium 1, high 2) and the check's confidence; an exam overrides weights in",
        "`Exam.suspicion_weights` (README, Reviews).",
        "",
    ]
    return "\n".join(lines)


class Command(BaseCommand):
    help = "Print the checks and incident kinds page (docs/kinds.md) from the registry."

    def handle(self, *args, **options) -> None:
        self.stdout.write(kinds_markdown(), ending="")
