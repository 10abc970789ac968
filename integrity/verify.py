"""Verify the tamper-evident log and, through the record registry, the tables it covers.

Kept apart from integrity/services.py (appends, checkpoints, proofs) because it needs the
record registry (integrity/records.py), which itself appends through the services.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from django.conf import settings

from integrity import merkle
from integrity.keys import signing_keys
from integrity.models import IntegrityCheckpoint, IntegrityLeaf
from integrity.records import RecordCheck
from integrity.services import ROW_FIELDS, Problem, checkpoint_from_row, row_check


@dataclass
class VerificationReport:
    leaves_checked: int = 0
    leaves_total: int = 0
    checkpoints_checked: int = 0
    root_hash: bytes = merkle.EMPTY_ROOT
    problems: list[Problem] = field(default_factory=list)
    uncovered_leaves: int = 0  # appended after the last checkpoint: not yet anchored
    # Per record type (integrity/records.py): rows compared with the log. Empty
    # when the leaf pass stopped at max_problems, since the rows were then not compared.
    records: dict[str, Any] = field(default_factory=dict)

    @property
    def is_intact(self) -> bool:
        return not self.problems

    @property
    def records_checked(self) -> int:
        return sum(stats.checked for stats in self.records.values())

    @property
    def records_erased(self) -> int:
        return sum(stats.erased for stats in self.records.values())


def integrity_verify(
    *,
    session_id: UUID | None = None,
    external: Iterable[merkle.Checkpoint] = (),
    max_problems: int = 100,
    read_contents: bool = False,
) -> VerificationReport:
    """Check the whole log (every row, positions, per-session order, every checkpoint),
    then every logged table against it.

    With ``session_id``, the row-level checks run only on that session's rows; positions
    and roots are still checked over the whole log, since they are what proves inclusion.
    ``external`` checkpoints (published copies) are checked like stored ones. Then each
    registered record type's rows are compared with their latest logged state
    (integrity/records.py): EDITED, INSERTED and DELETED rows are problems, after
    the leaf problems. ``read_contents`` also reads stored objects (evidence files) and
    compares their SHA-256 with the logged one. Leaf problems come in log order, so the
    first one names the first bad record.
    """
    keys = signing_keys()[1]
    report = VerificationReport()
    records = RecordCheck(session_id=session_id, read_contents=read_contents)
    stopped_early = False
    problems: list[tuple[int, Problem]] = []

    def add(index: int | None, message: str, order: int | None = None) -> None:
        sort_key = order if order is not None else (index if index is not None else -1)
        problems.append((sort_key, Problem(index, message)))

    checkpoints: list[tuple[str, merkle.Checkpoint]] = []
    for row in IntegrityCheckpoint.objects.order_by("tree_size", "id"):
        checkpoints.append((f"checkpoint {row.pk}", checkpoint_from_row(row)))
    for position, published in enumerate(external):
        checkpoints.append((f"published checkpoint {position + 1}", published))
    valid: list[tuple[str, merkle.Checkpoint]] = []
    for name, checkpoint in checkpoints:
        try:
            if checkpoint.origin != settings.PROCTOR_INTEGRITY_ORIGIN:
                raise merkle.ProofError(
                    f"it is for log {checkpoint.origin!r}, not "
                    f"{settings.PROCTOR_INTEGRITY_ORIGIN!r}"
                )
            key = keys.get(checkpoint.key_id)
            if key is None:
                raise merkle.ProofError(f"signed by unknown key {checkpoint.key_id}")
            checkpoint.verify(key.public_bytes)
        except merkle.ProofError as exc:
            add(None, f"{name} of {checkpoint.tree_size} leaves is invalid: {exc}", -1)
            continue
        valid.append((name, checkpoint))
    valid.sort(key=lambda item: item[1].tree_size)
    report.checkpoints_checked = len(valid)

    frontier = merkle.Frontier()
    pending = list(valid)
    next_seq: dict[Any, int] = {}
    rows = IntegrityLeaf.objects.order_by("index").values_list(*ROW_FIELDS)

    def compare_checkpoints() -> None:
        while pending and pending[0][1].tree_size == frontier.size:
            name, checkpoint = pending.pop(0)
            if frontier.root() != checkpoint.root_hash:
                last = checkpoint.tree_size - 1
                add(
                    last,
                    f"the first {checkpoint.tree_size} leaves do not match {name} "
                    f"(signed {checkpoint.timestamp}): a leaf at or before {last} was "
                    "changed, removed, inserted or reordered",
                )

    compare_checkpoints()
    for row in rows.iterator(chunk_size=5000):
        index, session = row[0], row[2]
        if index != frontier.size:
            if index > frontier.size:
                add(
                    frontier.size,
                    f"leaves {frontier.size} to {index - 1} are missing: rows were deleted",
                )
            else:  # impossible with a primary key, but say so rather than assume
                add(index, "appears twice")
        if session_id is None or session == session_id:
            report.leaves_checked += 1
            messages, entry = row_check(row, keys)
            for message in messages:
                add(index, message)
            if entry is not None:
                records.feed(index=index, key_id=row[7], session=session, data=entry.get("data"))
        if session is not None:
            expected_seq = next_seq.get(session, 0)
            if row[3] != expected_seq and (session_id is None or session == session_id):
                add(
                    index,
                    f"is entry {row[3]} of session {session} but entry {expected_seq} was "
                    "expected: an entry of that session was removed or the rows were reordered",
                )
            next_seq[session] = (row[3] if row[3] is not None else expected_seq) + 1
        # Advance the tree as if positions were dense, so sizes line up with checkpoints.
        while frontier.size < index:
            frontier.append(merkle.EMPTY_ROOT)
            compare_checkpoints()
        frontier.append(bytes(row[6]))
        compare_checkpoints()
        if len(problems) >= max_problems:
            stopped_early = True
            break
    report.leaves_total = frontier.size
    report.root_hash = frontier.root()
    for name, checkpoint in pending:
        if len(problems) >= max_problems:
            break
        add(
            frontier.size,
            f"{name} covers {checkpoint.tree_size} leaves but the log has only "
            f"{frontier.size}: leaves {frontier.size} to {checkpoint.tree_size - 1} were "
            "removed",
        )
    covered = valid[-1][1].tree_size if valid else 0
    report.uncovered_leaves = max(0, frontier.size - covered)
    problems.sort(key=lambda item: item[0])
    report.problems = [problem for _, problem in problems]
    if not stopped_early and len(problems) < max_problems:
        # Rows are compared only with a complete pass: a partial one would report every
        # record whose entries were not reached as inserted.
        record_problems, report.records = records.run(max_problems=max_problems - len(problems))
        report.problems.extend(record_problems)
    return report
