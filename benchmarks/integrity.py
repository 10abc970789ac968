"""Benchmark the tamper-evident log: append cost per entry, then verify a 100,000-leaf log.

Run against the database you care about (figures differ a lot between SQLite and
PostgreSQL); it creates and destroys Django's test database for it::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/proctor_integrity \\
        python benchmarks/integrity.py [--leaves 100000] [--appends 2000]
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "proctor_site.settings")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402
from django.utils import timezone  # noqa: E402

from integrity import merkle  # noqa: E402
from integrity.keys import active_key  # noqa: E402
from integrity.models import IntegrityLeaf  # noqa: E402
from integrity.services import (  # noqa: E402
    integrity_append,
    integrity_checkpoint_create,
    integrity_session_bundle,
    row_mac,
)


def _bulk_fill(total: int, session_id) -> None:
    """Rows as integrity_append writes them, in batches: only the filling is faster."""
    key = active_key()
    start = IntegrityLeaf.objects.count()
    seq = IntegrityLeaf.objects.filter(session_id=session_id).count()
    batch: list[IntegrityLeaf] = []
    for index in range(start, total):
        moment = timezone.now()
        in_session = index % 50 == 0
        entry = {
            "v": 1, "i": index, "kind": "audit",
            "session": str(session_id) if in_session else None,
            "seq": seq if in_session else None,
            "at": moment.isoformat(timespec="microseconds"),
            "data": {"action": "session.view", "actor_id": index % 977, "audit_event_id": index},
        }
        body = merkle.canonical_encode(entry)
        digest = merkle.leaf_hash(body)
        batch.append(IntegrityLeaf(
            index=index, kind="audit", session_id=session_id if in_session else None,
            session_seq=seq if in_session else None, created_at=moment,
            body=body.decode(), leaf_hash=digest, key_id=key.key_id,
            mac=row_mac(key.mac_key, digest),
        ))
        seq += in_session
        if len(batch) == 5000:
            IntegrityLeaf.objects.bulk_create(batch)
            batch = []
    IntegrityLeaf.objects.bulk_create(batch)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leaves", type=int, default=100_000)
    parser.add_argument("--appends", type=int, default=2_000)
    args = parser.parse_args()

    import uuid

    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        print(f"database: {connection.vendor} ({connection.settings_dict['NAME']})")
        session_id = uuid.uuid4()
        started = time.perf_counter()
        for _ in range(args.appends):
            with transaction.atomic():
                integrity_append(kind="benchmark.entry", session=session_id,
                                 data={"incident_id": 1, "severity": "low"})
        per_entry_us = (time.perf_counter() - started) / args.appends * 1e6
        print(f"append: {per_entry_us:,.0f} µs per entry "
              f"({args.appends:,} appends, each in its own transaction, commit included)")
        started = time.perf_counter()
        with transaction.atomic():
            for _ in range(args.appends):
                integrity_append(kind="benchmark.entry", session=session_id,
                                 data={"incident_id": 1, "severity": "low"})
        per_entry_us = (time.perf_counter() - started) / args.appends * 1e6
        print(f"append: {per_entry_us:,.0f} µs per entry "
              f"({args.appends:,} appends inside one caller's transaction)")

        started = time.perf_counter()
        _bulk_fill(args.leaves, session_id)
        print(f"bulk fill to {args.leaves:,} leaves: {time.perf_counter() - started:.1f} s")

        started = time.perf_counter()
        checkpoint = integrity_checkpoint_create()
        print(f"checkpoint over {checkpoint.tree_size:,} leaves: "
              f"{time.perf_counter() - started:.2f} s")

        started = time.perf_counter()
        call_command("verify_integrity", stdout=io.StringIO())
        print(f"verify_integrity, {args.leaves:,} leaves: {time.perf_counter() - started:.2f} s")

        rows = IntegrityLeaf.objects.filter(session_id=session_id).count()
        started = time.perf_counter()
        call_command("verify_integrity", "--session", str(session_id), stdout=io.StringIO())
        print(f"verify_integrity --session ({rows:,} of its rows): "
              f"{time.perf_counter() - started:.2f} s")

        started = time.perf_counter()
        bundle = integrity_session_bundle(session_id=session_id)
        print(f"session bundle with {len(bundle['entries']):,} inclusion proofs: "
              f"{time.perf_counter() - started:.2f} s")
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


if __name__ == "__main__":
    main()
