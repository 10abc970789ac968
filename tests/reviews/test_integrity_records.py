"""verify_integrity compares every logged table with the log: edits, deletions and
insertions made outside the services are named; the services' own writes are not."""

# ruff: noqa: S608  (table names below are constants; the point is raw SQL tampering)
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from exams import services as exam_services
from exams.models import ExamSession
from integrity.models import IntegrityLeaf
from integrity.records import integrity_log_incident, integrity_record_log
from integrity.verify import integrity_verify
from lifecycle.models import ShredRecord
from lifecycle.services import session_shred
from monitoring.evidence import evidence_store
from monitoring.models import Evidence, Incident
from privacy.fields import Ciphertext
from reviews import services
from reviews.models import Appeal, ReviewDecision
from tests import factories as f


@dataclass
class World:
    """One finished session with a record of every logged type, all written by services."""

    session: ExamSession
    bare: ExamSession  # another student's session, opened and nothing else
    incident: Incident  # confirmed, with evidence
    spare: Incident  # nothing depends on it
    decision: ReviewDecision
    appeal: Appeal
    frames: list[Evidence]
    store: Path


@pytest.fixture
def world(session, student, other_student, reviewer, exam, settings, tmp_path) -> World:
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path)},
        },
    }
    # The factory wrote the session; session_open would have logged it.
    integrity_record_log(record_type="exam_session", record=session, change="created")
    exam_services.session_consent(session=session, actor=student)
    exam_services.session_camera_check(session=session, actor=student)
    exam_services.session_start(session=session, actor=student)
    now = timezone.now()
    incident = services.incident_create(
        session=session, kind=Incident.Kind.NO_FACE, started_at=now, score=0.5,
        payload=b'{"seconds": 4}',
    )
    spare = services.incident_create(
        session=session, kind=Incident.Kind.TAB_HIDDEN, started_at=now, ended_at=now
    )
    frames = [
        evidence_store(session=session, seq=seq, captured_at=now, content=f"frame {seq}".encode(),
                       incident_id=incident.pk)
        for seq in (1, 2)
    ]
    decision = services.incident_confirm(incident=incident, reviewer=reviewer, note="seen")
    session = exam_services.session_submit(session=session, actor=student)
    appeal = services.appeal_submit(session=session, student=student, text="I was reading.")
    bare = exam_services.session_open(exam=exam, student=other_student)
    call_command("verify_integrity", "--evidence")  # intact before each test tampers
    return World(
        session=session, bare=bare, incident=incident, spare=spare, decision=decision,
        appeal=appeal, frames=frames, store=tmp_path,
    )


def _sql(statement: str, params: list) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


def _fails_naming(record: str, verb: str, detail: str = "", *args: str) -> None:
    pattern = rf"First bad record: {record}( \([^)]*\))?: {verb}\b.*{detail}"
    with pytest.raises(CommandError, match=pattern):
        call_command("verify_integrity", *args)


def _latest(record_type: str, record_id) -> dict:
    leaves = IntegrityLeaf.objects.filter(body__contains=f'"record":"{record_type}"').order_by(
        "-index"
    )
    for body in leaves.values_list("body", flat=True):
        data = json.loads(body)["data"]
        if str(data["record_id"]) == str(record_id):
            return data
    raise AssertionError(f"{record_type} {record_id} is not in the log")


# -- edits, deletions and insertions outside the services --------------------------------

EDITS = {
    "exam_session": lambda w: (
        ExamSession.objects.filter(pk=w.session.pk).update(
            ended_at=F("ended_at") + timedelta(minutes=30)
        ),
        f"exam_session {w.session.pk}", "ended_at is",
    ),
    "incident_severity": lambda w: (
        Incident.objects.filter(pk=w.incident.pk).update(severity="high"),
        f"incident {w.incident.pk}", "severity is 'high', logged 'low'",
    ),
    "incident_ended_at_in_sql": lambda w: (
        _sql("UPDATE monitoring_incident SET ended_at = %s WHERE id = %s",
             [timezone.now() + timedelta(hours=1), w.spare.pk]),
        f"incident {w.spare.pk}", "ended_at is",
    ),
    "incident_payload_swapped": lambda w: (
        Incident.objects.filter(pk=w.incident.pk).update(payload=Ciphertext(b"other bytes")),
        f"incident {w.incident.pk}", r"payload \(its digest differs",
    ),
    "review_decision": lambda w: (
        ReviewDecision.objects.filter(pk=w.decision.pk).update(decision="dismiss"),
        f"review_decision {w.decision.pk}", "decision is 'dismiss', logged 'confirm'",
    ),
    "appeal": lambda w: (
        Appeal.objects.filter(pk=w.appeal.pk).update(author=w.bare.student),
        f"appeal {w.appeal.pk}", "author is",
    ),
    "evidence_digest": lambda w: (
        Evidence.objects.filter(pk=w.frames[0].pk).update(sha256="0" * 64),
        f"evidence {w.frames[0].pk}", "sha256 is '0000",
    ),
    "evidence_pointed_at_another_file": lambda w: (
        Evidence.objects.filter(pk=w.frames[0].pk).update(image=w.frames[1].image.name),
        f"evidence {w.frames[0].pk}", r"image \(its digest differs",
    ),
}


@pytest.mark.parametrize("edit", EDITS.values(), ids=EDITS.keys())
def test_a_row_edited_outside_the_services_is_named_with_its_field(world, edit):
    _result, record, detail = edit(world)
    _fails_naming(record, "EDITED", detail)


DELETIONS = {
    "exam_session": lambda w: (w.bare.pk, ExamSession.objects.filter(pk=w.bare.pk).delete()),
    "incident": lambda w: (w.spare.pk, Incident.objects.filter(pk=w.spare.pk).delete()),
    "review_decision": lambda w: (
        w.decision.pk, ReviewDecision.objects.filter(pk=w.decision.pk).delete()
    ),
    "appeal": lambda w: (w.appeal.pk, Appeal.objects.filter(pk=w.appeal.pk).delete()),
    "evidence": lambda w: (w.frames[1].pk, Evidence.objects.filter(pk=w.frames[1].pk).delete()),
}


@pytest.mark.parametrize("record_type", DELETIONS.keys())
def test_a_row_deleted_outside_the_services_is_named(world, record_type):
    pk, _result = DELETIONS[record_type](world)
    _fails_naming(f"{record_type} {pk}", "DELETED", "no deletion or shredding was logged")


INSERTIONS = {
    "exam_session": lambda w: ExamSession.objects.create(
        exam=w.session.exam, student=f.UserFactory()
    ),
    "incident": lambda w: Incident.objects.create(
        session=w.session, kind=Incident.Kind.SPEECH, started_at=timezone.now()
    ),
    "review_decision": lambda w: ReviewDecision.objects.create(
        session=w.session, incident=w.spare, reviewer=w.decision.reviewer, decision="dismiss"
    ),
    "appeal": lambda w: Appeal.objects.create(
        session=w.bare, author=w.bare.student, text="forged"
    ),
    "evidence": lambda w: Evidence.objects.create(
        session=w.session, seq=99, captured_at=timezone.now(),
        image=f"evidence/{w.session.pk}/00000099.jpg", sha256="0" * 64,
    ),
}


@pytest.mark.parametrize("record_type", INSERTIONS.keys())
def test_a_row_inserted_outside_the_services_is_named(world, record_type):
    row = INSERTIONS[record_type](world)
    _fails_naming(f"{record_type} {row.pk}", "INSERTED", "has no entry in the log")


def test_every_problem_is_listed_after_the_first(world, capsys):
    Incident.objects.filter(pk=world.incident.pk).update(severity="high")
    Appeal.objects.filter(pk=world.appeal.pk).delete()
    report = integrity_verify()
    assert [str(problem).split(":")[0] for problem in report.problems] == [
        f"incident {world.incident.pk} (no_face)", f"appeal {world.appeal.pk}",
    ]


# -- the services' own writes --------------------------------------------------------------


def _incident_update(*, incident: Incident, change: str, **fields) -> None:
    """A write as the services make it: the change and its entry in one transaction."""
    with transaction.atomic():
        for name, value in fields.items():
            setattr(incident, name, value)
        incident.save(update_fields=list(fields))
        integrity_log_incident(incident=incident, change=change)


def test_severity_changes_and_closing_through_the_log_pass_and_are_logged(world, capsys):
    _incident_update(incident=world.spare, change="updated", severity="medium",
                     payload=b'{"source": "rules"}')
    _incident_update(incident=world.spare, change="closed",
                     ended_at=world.spare.started_at + timedelta(seconds=9))
    call_command("verify_integrity")
    assert "Records: 8 row(s) match their latest logged state" in capsys.readouterr().out
    latest = _latest("incident", world.spare.pk)
    assert latest["change"] == "closed"
    assert latest["state"]["severity"] == "medium"
    assert latest["state"]["ended_at"].startswith(
        (world.spare.started_at + timedelta(seconds=9)).isoformat()[:19]
    )
    kinds = list(IntegrityLeaf.objects.filter(body__contains=f'"record_id":{world.spare.pk},')
                 .filter(body__contains='"record":"incident"')
                 .order_by("index").values_list("kind", flat=True))
    assert kinds == ["incident.created", "incident.updated", "incident.closed"]


def test_decisions_closes_appeals_and_session_transitions_are_logged_states(world, reviewer):
    services.incident_dismiss(incident=world.spare, reviewer=reviewer)
    close = services.review_close(session=world.session, reviewer=reviewer,
                                  outcome="close_violation", note="confirmed twice")
    call_command("verify_integrity")
    assert _latest("incident", world.spare.pk)["change"] == "decided"
    assert _latest("incident", world.spare.pk)["state"]["status"] == "dismissed"
    assert _latest("review_decision", close.pk)["state"]["decision"] == "close_violation"
    session_states = [
        json.loads(body)["data"]["change"]
        for body in IntegrityLeaf.objects.filter(kind__startswith="exam_session.",
                                                 session_id=world.session.pk)
        .order_by("index").values_list("body", flat=True)
    ]
    assert session_states == ["created", "consent", "camera_check", "start", "submit"]
    assert "confirmed twice" not in "".join(IntegrityLeaf.objects.values_list("body", flat=True))


def test_a_terminated_session_passes_and_its_reason_is_only_a_digest(world, reviewer):
    exam_services.session_terminate(session=world.bare, actor=reviewer, reason="Phone on desk")
    call_command("verify_integrity")
    state = _latest("exam_session", world.bare.pk)["state"]
    assert state["state"] == "terminated" and len(state["end_reason"]) == 64
    ExamSession.objects.filter(pk=world.bare.pk).update(end_reason="Left early")
    _fails_naming(f"exam_session {world.bare.pk}", "EDITED", r"end_reason \(its digest")


# -- evidence files ---------------------------------------------------------------------


def test_an_evidence_file_altered_by_one_byte_is_named_with_evidence(world):
    path = world.store / world.frames[1].image.name
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    call_command("verify_integrity")  # the rows are intact; only reading the object tells
    _fails_naming(f"evidence {world.frames[1].pk}", "the stored object", "does not decrypt",
                  "--evidence")


def test_swapped_evidence_files_are_named_with_evidence(world):
    first, second = (world.store / frame.image.name for frame in world.frames)
    first_bytes, second_bytes = first.read_bytes(), second.read_bytes()
    first.write_bytes(second_bytes)
    second.write_bytes(first_bytes)
    with pytest.raises(CommandError, match=rf"First bad record: evidence {world.frames[0].pk} "
                                           r"\(frame 1\): the stored object .*replaced"):
        call_command("verify_integrity", "--evidence")


def test_a_missing_evidence_file_is_named_with_evidence(world):
    (world.store / world.frames[0].image.name).unlink()
    _fails_naming(f"evidence {world.frames[0].pk}", "its stored object", "cannot be read",
                  "--evidence")


# -- erasure ----------------------------------------------------------------------------


def test_a_shredded_session_passes_and_later_edits_are_still_named(world, capsys):
    session_shred(session=world.session, cause=ShredRecord.Cause.ERASURE)
    assert not Evidence.objects.filter(session=world.session).exists()
    call_command("verify_integrity", "--evidence")
    out = capsys.readouterr().out
    assert "2 erased by shredding or a logged deletion" in out
    assert "Evidence: 0 frame(s) match the log (objects read), 2 erased." in out
    assert _latest("exam_session", world.session.pk)["change"] == "shredded"
    Incident.objects.filter(pk=world.incident.pk).update(severity="high")
    _fails_naming(f"incident {world.incident.pk}", "EDITED", "severity")


def test_a_row_of_a_shredded_session_that_should_be_gone_is_named(world):
    frame = world.frames[0]
    session_shred(session=world.session, cause=ShredRecord.Cause.RETENTION)
    Evidence.objects.create(
        session=world.session, seq=frame.seq, captured_at=frame.captured_at,
        image=frame.image.name, sha256=frame.sha256, incident=world.incident,
        created_at=frame.created_at, pk=frame.pk,
    )
    _fails_naming(f"evidence {frame.pk}", "INSERTED", "shredded at leaf")


# -- scope, adoption ---------------------------------------------------------------------


def test_session_scope_checks_only_that_sessions_records(world, capsys):
    Incident.objects.filter(pk=world.incident.pk).update(severity="high")
    call_command("verify_integrity", "--session", str(world.bare.pk))
    assert "Records: 1 row(s) match their latest logged state (exam_session 1)." in (
        capsys.readouterr().out
    )
    _fails_naming(f"incident {world.incident.pk}", "EDITED", "severity",
                  "--session", str(world.session.pk))


def test_adopting_logs_unseen_rows_but_leaves_edited_ones_reported(world, capsys):
    inserted = Incident.objects.create(
        session=world.session, kind=Incident.Kind.SPEECH, started_at=timezone.now()
    )
    call_command("integrity_adopt_records")
    assert "Adopted 1 row(s) the log had not seen (incident 1)." in capsys.readouterr().out
    assert _latest("incident", inserted.pk)["change"] == "baseline"
    call_command("verify_integrity")
    Incident.objects.filter(pk=world.incident.pk).update(severity="high")
    call_command("integrity_adopt_records")
    _fails_naming(f"incident {world.incident.pk}", "EDITED", "severity")
