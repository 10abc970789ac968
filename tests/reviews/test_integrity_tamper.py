"""The tamper matrix on real PostgreSQL: every change to the log is refused or detected.

Each way of tampering is tried twice: with the append-only triggers in place (the
database must refuse it, or, for a forged insert, the verifier must catch it) and with
the triggers dropped by a superuser (the verifier must catch it and name the first bad
record). Run with DATABASE_URL=postgres://… and REDIS_URL=redis://… (see conftest).
"""

# ruff: noqa: S608  (table names below are constants; the point is raw SQL tampering)
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from audit.actions import AuditAction
from audit.services import audit_record
from integrity import merkle
from integrity.keys import active_key
from integrity.models import IntegrityLeaf
from integrity.records import integrity_record_log
from integrity.services import integrity_append, integrity_checkpoint_create, row_mac
from monitoring.models import Incident
from reviews.models import ReviewDecision
from reviews.services import incident_create, review_decision_record
from tests import factories as f

pytestmark = pytest.mark.integration

LEAF = "integrity_integrityleaf"
CHECKPOINT = "integrity_integritycheckpoint"


@dataclass
class Log:
    published: Path  # the last checkpoint, as published outside the system
    size: int


def _sql(statement: str, params: list | None = None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, params or [])


def _drop_triggers() -> None:
    """What a superuser (or the table owner) can always do; the test runs as postgres."""
    for table in (LEAF, CHECKPOINT):
        _sql(f"DROP TRIGGER {table}_no_update_delete ON {table}")
        _sql(f"DROP TRIGGER {table}_no_truncate ON {table}")


def _row(index: int) -> IntegrityLeaf:
    return IntegrityLeaf.objects.get(index=index)


@pytest.fixture
def log(session, exam, other_student, reviewer, tmp_path) -> Log:
    """16 leaves over two sessions, checkpoints at 10 and 16, the last one published."""
    other = f.ExamSessionFactory(exam=exam, student=other_student)
    for row in (session, other):  # the factory writes rows directly; log them as services do
        integrity_record_log(record_type="exam_session", record=row, change="created")
    for position in range(5):
        audit_record(
            actor=reviewer, action=AuditAction.SESSION_VIEW_REFUSED,
            session=(session, other)[position % 2],
        )
    incident = incident_create(
        session=session, kind=Incident.Kind.LOOKING_AWAY, started_at=timezone.now(), score=0.9
    )
    review_decision_record(  # two leaves: the incident decided, the decision
        session=session, reviewer=reviewer, decision=ReviewDecision.Decision.CONFIRM,
        incident=incident,
    )
    assert integrity_checkpoint_create().tree_size == 10
    for position in range(6):
        audit_record(
            actor=reviewer, action=AuditAction.SESSION_VIEW_REFUSED,
            session=(session, other)[position % 2],
        )
    assert integrity_checkpoint_create().tree_size == 16
    published = tmp_path / "published.json"
    call_command("integrity_checkpoint", "--output", str(published))
    call_command("verify_integrity", "--checkpoint", str(published))  # intact before
    return Log(published=published, size=16)


# -- the ways of tampering. Each returns the leaf the report must name first. ------------


def edit_body(log: Log) -> int:
    body = _row(3).body.replace("session.view.refused", "session.open.refused")
    _sql(f"UPDATE {LEAF} SET body = %s WHERE index = 3", [body])
    return 3


def edit_body_and_rehash(log: Log) -> int:
    body = _row(3).body.replace("session.view.refused", "session.open.refused")
    digest = merkle.leaf_hash(body.encode())
    _sql(f"UPDATE {LEAF} SET body = %s, leaf_hash = %s WHERE index = 3", [body, digest])
    return 3


def edit_and_reseal_with_the_stolen_key(log: Log) -> int:
    """An insider with the signing key: only the signed checkpoint of 10 leaves catches it."""
    body = _row(3).body.replace("session.view.refused", "session.open.refused")
    digest = merkle.leaf_hash(body.encode())
    mac = row_mac(active_key().mac_key, digest)
    _sql(f"UPDATE {LEAF} SET body = %s, leaf_hash = %s, mac = %s WHERE index = 3",
         [body, digest, mac])
    return 9


def edit_column(log: Log) -> int:
    _sql(f"UPDATE {LEAF} SET kind = 'audit.harmless' WHERE index = 5")
    return 5


def delete_middle(log: Log) -> int:
    _sql(f"DELETE FROM {LEAF} WHERE index = 4")
    return 4


def delete_tail(log: Log) -> int:
    _sql(f"DELETE FROM {LEAF} WHERE index >= 14")
    return 14


def reorder_positions(log: Log) -> int:
    _sql(f"UPDATE {LEAF} SET index = 1000 WHERE index = 6")
    _sql(f"UPDATE {LEAF} SET index = 6 WHERE index = 7")
    _sql(f"UPDATE {LEAF} SET index = 7 WHERE index = 1000")
    return 6


def reorder_contents(log: Log) -> int:
    first, second = _row(6), _row(7)
    _sql(f"UPDATE {LEAF} SET session_seq = NULL WHERE index IN (6, 7)")  # dodge the unique
    for target, source in ((first, second), (second, first)):
        _sql(
            f"UPDATE {LEAF} SET body = %s, leaf_hash = %s, mac = %s, kind = %s, "
            "session_id = %s, session_seq = %s, created_at = %s WHERE index = %s",
            [source.body, bytes(source.leaf_hash), bytes(source.mac), source.kind,
             source.session_id, source.session_seq, source.created_at, target.index],
        )
    return 6


def _forged_row(index: int, seq: int | None = None) -> list:
    moment = timezone.now()
    body = merkle.canonical_encode({
        "v": 1, "i": index, "kind": "review.decision", "session": None, "seq": seq,
        "at": moment.isoformat(timespec="microseconds"), "data": {"decision": "close_clear"},
    })
    return [index, "review.decision", None, seq, moment, body.decode(),
            merkle.leaf_hash(body), active_key().key_id, os.urandom(32)]


_INSERT = (
    f"INSERT INTO {LEAF} (index, kind, session_id, session_seq, created_at, body, leaf_hash, "
    "key_id, mac) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
)


def insert_at_the_end(log: Log) -> int:
    _sql(_INSERT, _forged_row(log.size))
    return log.size


def insert_in_the_middle(log: Log) -> int:
    _sql(f"UPDATE {LEAF} SET index = index + 1000 WHERE index >= 8")
    _sql(f"UPDATE {LEAF} SET index = index - 999 WHERE index >= 1000")
    _sql(_INSERT, _forged_row(8))
    return 8


def truncate_leaves(log: Log) -> int:
    _sql(f"TRUNCATE {LEAF}")
    return 0


def truncate_leaves_and_checkpoints(log: Log) -> int:
    """Only the checkpoint published outside the database is left to catch this."""
    _sql(f"TRUNCATE {LEAF}, {CHECKPOINT}")
    return 0


def rewrite_history_and_resign(log: Log) -> int:
    """An insider with the key forges the past and signs it anew; the published copy wins."""
    _sql(f"DELETE FROM {CHECKPOINT}")
    edit_and_reseal_with_the_stolen_key(log)
    integrity_checkpoint_create()
    return log.size - 1


TAMPERINGS = [
    edit_body, edit_body_and_rehash, edit_and_reseal_with_the_stolen_key, edit_column,
    delete_middle, delete_tail, reorder_positions, reorder_contents, insert_at_the_end,
    insert_in_the_middle, truncate_leaves, truncate_leaves_and_checkpoints,
    rewrite_history_and_resign,
]


@pytest.mark.parametrize("tamper", TAMPERINGS, ids=lambda t: t.__name__)
def test_tampering_with_triggers_dropped_is_detected_and_named(log, tamper):
    _drop_triggers()
    first_bad = tamper(log)
    with pytest.raises(CommandError, match=rf"First bad record: leaf {first_bad}:"):
        call_command("verify_integrity", "--checkpoint", str(log.published))


@pytest.mark.parametrize("tamper", TAMPERINGS, ids=lambda t: t.__name__)
def test_tampering_with_triggers_in_place_is_refused_or_detected(log, tamper):
    try:
        with transaction.atomic():
            # As in production: only the test suite's flush may truncate (see conftest).
            _sql("SET LOCAL proctor.integrity_allow_truncate = 'off'")
            tamper(log)
    except DatabaseError as exc:
        assert "The integrity log is append-only" in str(exc)
        call_command("verify_integrity", "--checkpoint", str(log.published))  # still intact
        return
    # Only appending gets past the triggers; the forged row's seal gives it away.
    assert tamper in (insert_at_the_end,)
    with pytest.raises(CommandError, match="First bad record: leaf 16: its seal"):
        call_command("verify_integrity", "--checkpoint", str(log.published))


def test_the_triggers_refuse_update_delete_and_truncate_by_name(log):
    for statement in (
        f"UPDATE {LEAF} SET kind = 'x' WHERE index = 0",
        f"DELETE FROM {LEAF} WHERE index = 0",
        f"TRUNCATE {LEAF}",
        f"UPDATE {CHECKPOINT} SET tree_size = 1",
        f"DELETE FROM {CHECKPOINT}",
        f"TRUNCATE {CHECKPOINT}",
    ):
        with pytest.raises(DatabaseError, match=r"append-only: (UPDATE|DELETE|TRUNCATE)"):
            with transaction.atomic():
                _sql("SET LOCAL proctor.integrity_allow_truncate = 'off'")
                _sql(statement)


def test_session_verification_names_a_bad_row_of_that_session(log, session):
    _drop_triggers()
    index = IntegrityLeaf.objects.filter(session_id=session.pk).values_list("index", flat=True)[2]
    _sql(f"UPDATE {LEAF} SET created_at = created_at + interval '1 hour' WHERE index = %s",
         [index])
    with pytest.raises(CommandError, match=rf"First bad record: leaf {index}: .*'at'"):
        call_command("verify_integrity", "--session", str(session.pk))


def test_published_checkpoint_of_another_log_is_rejected(log, tmp_path, settings):
    data = json.loads(log.published.read_text())
    data["origin"] = "elsewhere.example/log"
    other = tmp_path / "other.json"
    other.write_text(json.dumps(data))
    with pytest.raises(CommandError, match="published checkpoint 1 .* is invalid"):
        call_command("verify_integrity", "--checkpoint", str(other))


@pytest.mark.django_db(transaction=True)
def test_the_suite_can_still_flush_the_log_between_transactional_tests():
    # Teardown flushes with TRUNCATE; conftest's database option is what allows it.
    integrity_append(kind="test.entry")
    assert IntegrityLeaf.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_appends_get_dense_positions_and_session_numbers():
    import threading
    import uuid

    session_id = uuid.uuid4()
    errors: list[BaseException] = []

    def append_many() -> None:
        try:
            for _ in range(25):
                integrity_append(kind="test.entry", session=session_id)
        except BaseException as exc:  # noqa: BLE001  (reported by the assertion below)
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=append_many) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    rows = list(IntegrityLeaf.objects.order_by("index").values_list("index", "session_seq"))
    assert [index for index, _ in rows] == list(range(100))
    assert [seq for _, seq in rows] == list(range(100))
    call_command("verify_integrity")


def test_consistency_proofs_link_every_pair_of_stored_checkpoints(log):
    from integrity.models import IntegrityCheckpoint
    from integrity.services import integrity_consistency_proof

    integrity_append(kind="test.entry")
    integrity_checkpoint_create()
    checkpoints = list(IntegrityCheckpoint.objects.order_by("tree_size"))
    assert [c.tree_size for c in checkpoints] == [10, 16, 17]
    for old in checkpoints:
        for new in checkpoints:
            if old.tree_size <= new.tree_size:
                merkle.verify_consistency(
                    old.tree_size, new.tree_size, bytes(old.root_hash), bytes(new.root_hash),
                    integrity_consistency_proof(old_size=old.tree_size, new_size=new.tree_size),
                )


def test_the_offline_verifier_accepts_a_bundle_exported_from_postgresql(log, session, tmp_path):
    from integrity.offline_verifier import verify_bundle

    bundle_path = tmp_path / "bundle.json"
    call_command("integrity_export_bundle", "--session", str(session.pk),
                 "--checkpoint", str(log.published), "--output", str(bundle_path))
    published = merkle.Checkpoint.from_json(json.loads(log.published.read_text()))
    entries = verify_bundle(
        json.loads(bundle_path.read_text()), public_key=active_key().public_bytes,
        published=published,
    )
    assert [entry["seq"] for entry in entries] == list(range(len(entries)))
    assert {entry["kind"] for entry in entries} >= {"incident.created", "review.decision"}


def test_a_tampered_log_cannot_be_exported(log, session, tmp_path):
    _drop_triggers()
    edit_and_reseal_with_the_stolen_key(log)
    with pytest.raises(CommandError, match="does not match the checkpoint"):
        call_command("integrity_export_bundle", "--session", str(session.pk),
                     "--output", str(tmp_path / "bundle.json"))


@pytest.mark.parametrize(
    "change",
    ["root_hash = decode(repeat('ab', 32), 'hex')", "tree_size = 9", "timestamp = 'yesterday'"],
)
def test_an_edited_stored_checkpoint_is_named(log, change):
    _drop_triggers()
    _sql(f"UPDATE {CHECKPOINT} SET {change} WHERE tree_size = 10 OR tree_size = 9")
    with pytest.raises(CommandError, match=r"First bad record: log: checkpoint \d+ of \d+ "
                                           r"leaves is invalid: .*bad signature"):
        call_command("verify_integrity")
