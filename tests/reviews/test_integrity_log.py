"""The tamper-evident log on the embedded database: appending, checkpoints, verifying."""

from __future__ import annotations

import json

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.utils import timezone

from audit.actions import AuditAction
from audit.services import audit_record
from integrity import merkle
from integrity.errors import IntegrityEntryRefused, IntegrityViolation
from integrity.models import IntegrityCheckpoint, IntegrityLeaf
from integrity.services import (
    Kind,
    integrity_append,
    integrity_checkpoint_create,
    integrity_consistency_proof,
    integrity_session_bundle,
)
from integrity.verify import integrity_verify
from monitoring.models import Incident
from reviews.errors import ReviewError
from reviews.models import ReviewDecision
from reviews.services import incident_create, review_decision_record
from tests import factories as f


@pytest.fixture
def editable_log(db):
    """The tests below edit rows; on PostgreSQL, drop the triggers as a superuser could."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            for table in ("integrity_integrityleaf", "integrity_integritycheckpoint"):
                cursor.execute(f"DROP TRIGGER {table}_no_update_delete ON {table}")


def test_audit_events_incidents_and_decisions_are_logged_in_order(session, reviewer):
    audit_record(
        actor=reviewer, action=AuditAction.SESSION_VIEW_REFUSED, session=session, reason="Review"
    )
    incident = incident_create(
        session=session, kind=Incident.Kind.NO_FACE, started_at=timezone.now(), score=0.25,
        payload=b"ciphertext",
    )
    review_decision_record(
        session=session, reviewer=reviewer, decision=ReviewDecision.Decision.CONFIRM,
        incident=incident, note="Student left the room for two minutes.",
    )
    leaves = list(IntegrityLeaf.objects.filter(session_id=session.pk))
    assert [leaf.kind for leaf in leaves] == [
        Kind.AUDIT, Kind.INCIDENT, "incident.decided", Kind.REVIEW_DECISION
    ]
    assert [leaf.session_seq for leaf in leaves] == [0, 1, 2, 3]
    incident_entry = json.loads(leaves[1].body)["data"]
    assert (incident_entry["record"], incident_entry["record_id"]) == ("incident", incident.pk)
    assert incident_entry["change"] == "created"
    assert incident_entry["state"]["score_milli"] == 250
    assert incident_entry["state"]["status"] == "pending"
    assert len(incident_entry["state"]["payload"]) == 64  # a keyed digest of the ciphertext
    decided = json.loads(leaves[2].body)["data"]
    assert (decided["change"], decided["state"]["status"]) == ("decided", "confirmed")


def test_free_text_never_reaches_the_log(session, reviewer):
    audit_record(
        actor=reviewer, action=AuditAction.SESSION_VIEW_REFUSED, session=session,
        reason="Secret reason",
    )
    incident = incident_create(
        session=session, kind=Incident.Kind.SPEECH, started_at=timezone.now(),
        payload=b"the student said hello",
    )
    review_decision_record(
        session=session, reviewer=reviewer, decision=ReviewDecision.Decision.DISMISS,
        incident=incident, note="Private note about alice",
    )
    bodies = " ".join(IntegrityLeaf.objects.values_list("body", flat=True))
    for secret in ("Secret reason", "said hello", "Private note", "alice"):
        assert secret not in bodies


def test_a_long_string_is_refused_as_possible_free_text(session):
    with pytest.raises(IntegrityEntryRefused, match="never free text"):
        integrity_append(kind="test.entry", session=session, data={"note": "x" * 200})


def test_a_float_is_refused(session):
    with pytest.raises(IntegrityEntryRefused, match="is a float"):
        integrity_append(kind="test.entry", session=session, data={"score": 0.3})


def test_an_entry_rolls_back_with_the_callers_transaction(session):
    with pytest.raises(RuntimeError), transaction.atomic():
        integrity_append(kind="test.entry", session=session)
        raise RuntimeError("the caller's write failed")
    assert not IntegrityLeaf.objects.exists()
    assert integrity_append(kind="test.entry", session=session).index == 0


def test_a_second_decision_on_the_same_incident_is_refused(session, reviewer):
    incident = f.IncidentFactory(session=session)
    review_decision_record(
        session=session, reviewer=reviewer, decision=ReviewDecision.Decision.CONFIRM,
        incident=incident,
    )
    with pytest.raises(ReviewError, match="already confirmed"):
        review_decision_record(
            session=session, reviewer=reviewer, decision=ReviewDecision.Decision.DISMISS,
            incident=incident,
        )
    assert IntegrityLeaf.objects.filter(kind=Kind.REVIEW_DECISION).count() == 1


def test_verify_passes_on_an_untouched_log(logged_session, capsys):
    for _ in range(5):
        integrity_append(kind="test.entry", session=logged_session)
    integrity_checkpoint_create()
    integrity_append(kind="test.entry")
    call_command("verify_integrity")
    out = capsys.readouterr().out
    assert "Integrity OK: 7 rows of 7 checked, 1 checkpoint(s) match" in out
    assert "Records: 1 row(s) match their latest logged state (exam_session 1)." in out
    assert "the last 1 leaves are not yet covered" in out


def test_verify_names_an_edited_row(session, editable_log):
    for _ in range(4):
        integrity_append(kind="test.entry", session=session)
    leaf = IntegrityLeaf.objects.get(index=2)
    edited = leaf.body.replace("test.entry", "test.other")
    IntegrityLeaf.objects.filter(index=2).update(body=edited)
    with pytest.raises(CommandError, match="First bad record: leaf 2: .*does not hash"):
        call_command("verify_integrity")


def test_checkpoints_are_signed_and_not_repeated_without_new_leaves(session):
    integrity_append(kind="test.entry", session=session)
    first = integrity_checkpoint_create()
    assert integrity_checkpoint_create() == first
    integrity_append(kind="test.entry", session=session)
    second = integrity_checkpoint_create()
    assert (first.tree_size, second.tree_size) == (1, 2)
    assert IntegrityCheckpoint.objects.count() == 2


def test_consistency_proof_links_two_checkpoints(session):
    for _ in range(5):
        integrity_append(kind="test.entry", session=session)
    old = integrity_checkpoint_create()
    for _ in range(8):
        integrity_append(kind="test.entry")
    new = integrity_checkpoint_create()
    proof = integrity_consistency_proof(old_size=old.tree_size, new_size=new.tree_size)
    merkle.verify_consistency(
        old.tree_size, new.tree_size, bytes(old.root_hash), bytes(new.root_hash), proof
    )


def test_a_tampered_log_is_never_signed(session, editable_log):
    for _ in range(3):
        integrity_append(kind="test.entry", session=session)
    integrity_checkpoint_create()
    IntegrityLeaf.objects.filter(index=1).update(leaf_hash=merkle.leaf_hash(b"forged"))
    integrity_append(kind="test.entry", session=session)
    with pytest.raises(IntegrityViolation, match="no longer match checkpoint"):
        integrity_checkpoint_create()


def test_session_bundle_proves_each_entry(session, other_student, exam):
    other = f.ExamSessionFactory(exam=exam, student=other_student)
    for position in range(7):
        integrity_append(kind="test.entry", session=session if position % 2 else other)
    checkpoint = integrity_checkpoint_create()
    bundle = integrity_session_bundle(session_id=session.pk)
    assert [entry["index"] for entry in bundle["entries"]] == [1, 3, 5]
    root = bytes(checkpoint.root_hash)
    for entry in bundle["entries"]:
        merkle.verify_inclusion(
            entry["index"], 7, merkle.leaf_hash(entry["body"].encode()),
            [bytes.fromhex(node) for node in entry["proof"]], root,
        )


def test_session_verification_checks_only_that_sessions_rows(
    logged_session, exam, other_student, editable_log
):
    session = logged_session
    other = f.ExamSessionFactory(exam=exam, student=other_student)
    integrity_append(kind="test.entry", session=session)
    integrity_append(kind="test.entry", session=other)
    IntegrityLeaf.objects.filter(session_id=other.pk).update(kind="test.edited")
    assert integrity_verify(session_id=session.pk).is_intact
    report = integrity_verify(session_id=other.pk)
    assert "its column for 'kind'" in str(report.problems[0])


def test_a_rotated_key_keeps_old_rows_and_checkpoints_verifiable(logged_session, settings):
    session = logged_session  # its state's digests were made under the old key
    from integrity.keys import active_key, generate_key

    old_key = settings.PROCTOR_INTEGRITY_SIGNING_KEY
    old_key_id = active_key().key_id
    integrity_append(kind="test.entry", session=session)
    integrity_checkpoint_create()
    settings.PROCTOR_INTEGRITY_SIGNING_KEY = generate_key()
    settings.PROCTOR_INTEGRITY_RETIRED_KEYS = [old_key]
    integrity_append(kind="test.entry", session=session)
    integrity_checkpoint_create()
    assert IntegrityLeaf.objects.values("key_id").distinct().count() == 2
    assert integrity_verify().is_intact
    settings.PROCTOR_INTEGRITY_RETIRED_KEYS = []  # the old key forgotten: say so
    problems = [str(problem) for problem in integrity_verify().problems]
    assert problems[0].startswith("log: checkpoint") and "unknown key" in problems[0]
    assert f"leaf 0: sealed by unknown key '{old_key_id}'" in problems


def test_an_approved_break_glass_grant_is_logged_without_its_reason(
    session, reviewer, institution_admin
):
    from lifecycle import services as privacy

    session.exam.keep_originals_days = 7
    session.exam.save(update_fields=["keep_originals_days"])
    privacy.original_frame_store(
        session=session, seq=1, captured_at=timezone.now(), data=b"raw-frame"
    )
    grant = privacy.break_glass_request(
        session=session, actor=reviewer, reason="Appeal claims a poster was a second person."
    )
    privacy.break_glass_approve(grant=grant, actor=institution_admin)
    leaf = IntegrityLeaf.objects.get(kind=Kind.BREAK_GLASS_GRANT)
    entry = json.loads(leaf.body)
    assert entry["session"] == str(session.pk)
    assert entry["data"]["grant_id"] == grant.pk
    assert entry["data"]["requested_by_id"] == reviewer.pk
    assert entry["data"]["approved_by_id"] == institution_admin.pk
    assert "poster" not in leaf.body
