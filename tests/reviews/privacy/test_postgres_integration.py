"""Encryption and shredding on the real PostgreSQL: what an attacker with the database, a
`pg_dump` or the storage folder could do, and what they would find."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from exams.models import ExamSession
from lifecycle import services
from lifecycle.models import BreakGlassGrant, ShredRecord
from monitoring.models import Evidence, Incident
from privacy import keys
from privacy.errors import BreakGlassRefused, DecryptionFailed
from privacy.models import SessionKey
from reviews.models import ReviewDecision
from tests import factories as f
from tests.reviews.privacy.helpers import js, plant

pytestmark = pytest.mark.integration


def _sql(query, params=()):
    with connection.cursor() as cursor:
        cursor.execute(query, params)
        return cursor.fetchall() if cursor.description else None


def _pg_dump() -> bytes:
    db = django_settings.DATABASES["default"]
    env = {**os.environ, "PGPASSWORD": db.get("PASSWORD") or ""}
    pg_dump = shutil.which("pg_dump")
    assert pg_dump, "pg_dump is not installed (apt-get install postgresql-client)"
    return subprocess.run(  # noqa: S603
        [pg_dump, "--no-owner", "-h", db["HOST"] or "127.0.0.1", "-p", str(db["PORT"] or 5432),
         "-U", db["USER"], "-d", connection.settings_dict["NAME"]],
        check=True, capture_output=True, env=env, timeout=120,
    ).stdout


def _storage_bytes(settings) -> bytes:
    root = settings.MEDIA_ROOT
    return b"".join(p.read_bytes() for p in root.rglob("*") if p.is_file())


def _found(canary: str, haystack: bytes) -> bool:
    # bytea columns dump as hex; text as text. Look for both spellings.
    raw = canary.encode()
    return raw in haystack or raw.hex().encode() in haystack.lower()


@pytest.mark.django_db
def test_ciphertext_swapped_between_rows_is_rejected(session):
    first = f.IncidentFactory(session=session, payload=js({"who": "first"}))
    second = f.IncidentFactory(session=session, payload=js({"who": "second"}))
    _sql(
        "UPDATE monitoring_incident SET payload = (SELECT payload FROM monitoring_incident "
        "WHERE id = %s) WHERE id = %s", [first.pk, second.pk],
    )

    assert json.loads(Incident.objects.get(pk=first.pk).payload) == {"who": "first"}
    with pytest.raises(DecryptionFailed, match=f"record=reviews.incident:{second.uid}"):
        _ = Incident.objects.get(pk=second.pk).payload


@pytest.mark.django_db
def test_ciphertext_and_wrapped_keys_swapped_between_sessions_are_rejected(
    session, exam, other_student, reviewer
):
    other = f.ExamSessionFactory(exam=exam, student=other_student)
    mine = f.IncidentFactory(session=session, payload=js({"who": "mine"}))
    theirs = f.IncidentFactory(session=other, payload=js({"who": "theirs"}))
    decision = f.ReviewDecisionFactory(incident=theirs, reviewer=reviewer, note="theirs")
    # Move my incident, ciphertext and all, into the other session.
    _sql("UPDATE monitoring_incident SET session_id = %s WHERE id = %s", [other.pk, mine.pk])
    with pytest.raises(DecryptionFailed, match=f"session={other.pk}"):
        _ = Incident.objects.get(pk=mine.pk).payload

    # Copy my session's wrapped data key onto the other session's key row.
    _sql(
        "UPDATE privacy_sessionkey SET wrapped_dek = (SELECT wrapped_dek FROM "
        "privacy_sessionkey WHERE session_id = %s) WHERE session_id = %s", [session.pk, other.pk],
    )
    keys.cache_evict()
    with pytest.raises(DecryptionFailed, match=f"data key of session {other.pk} does not unwrap"):
        _ = ReviewDecision.objects.get(pk=decision.pk).note


@pytest.mark.django_db
def test_rotation_interrupted_and_resumed_loses_nothing(exam, course, settings):
    sessions = [f.ExamSessionFactory(exam=exam) for _ in range(5)]
    for n, session in enumerate(sessions):
        f.IncidentFactory(session=session, payload=js({"n": n}))
    before = dict(Incident.objects.values_list("pk", "payload"))
    settings.PROCTOR_KEYRING = {1: bytes(range(32)), 2: bytes(range(64, 96))}

    # A crash in the middle of a batch: its transaction rolls back, nothing half-done.
    with pytest.raises(RuntimeError, match="power cut"), transaction.atomic():
        assert keys.session_key_rewrap_batch(batch_size=2) == 2
        raise RuntimeError("power cut")
    assert set(SessionKey.objects.values_list("kek_version", flat=True)) == {1}

    call_command("rotate_keys", batch_size=2, max_batches=1)  # stopped after one batch
    assert sorted(SessionKey.objects.values_list("kek_version", flat=True)) == [1, 1, 1, 2, 2]
    call_command("rotate_keys", batch_size=2)  # resumed
    assert set(SessionKey.objects.values_list("kek_version", flat=True)) == {2}
    assert dict(Incident.objects.values_list("pk", "payload")) == before  # data untouched

    settings.PROCTOR_KEYRING = {2: bytes(range(64, 96))}
    keys.cache_evict()
    assert sorted(json.loads(i.payload)["n"] for i in Incident.objects.all()) == [0, 1, 2, 3, 4]


@pytest.mark.django_db(transaction=True)
def test_after_shredding_canaries_are_nowhere_in_pg_dump_nor_storage(
    exam, student, other_student, reviewer, settings
):
    exam.keep_originals_days = 3
    exam.save()
    doomed = f.ExamSessionFactory(exam=exam, student=student)
    survivor = f.ExamSessionFactory(exam=exam, student=other_student)
    canaries = plant(doomed, reviewer, originals=True)
    survivor_canaries = plant(survivor, reviewer)

    dump = _pg_dump()
    stored = _storage_bytes(settings)
    # The dump is of this test's database (else the absences below would prove nothing).
    assert str(doomed.pk).encode() in dump and b"CREATE TABLE public.monitoring_incident" in dump
    assert len(stored) > 0
    # Encrypted at rest even before shredding: no plaintext anywhere.
    for canary in canaries + survivor_canaries:
        assert not _found(canary, dump), canary
        assert not _found(canary, stored), canary

    services.session_shred(session=doomed, cause=ShredRecord.Cause.ERASURE)

    dump = _pg_dump()
    for canary in canaries:
        assert not _found(canary, dump), canary
        assert not _found(canary, _storage_bytes(settings)), canary
    assert not list((settings.MEDIA_ROOT / "evidence" / str(doomed.pk)).glob("*"))
    assert not list((settings.MEDIA_ROOT / "originals" / str(doomed.pk)).glob("*"))
    assert bytes(SessionKey.objects.get(session=doomed).wrapped_dek) == b""
    # The other session is untouched and still readable.
    keys.cache_evict()
    survivor_incident = Incident.objects.get(session=survivor)
    assert json.loads(survivor_incident.payload) == {"detail": survivor_canaries[0]}
    with Evidence.objects.get(session=survivor).image.open() as handle:
        assert survivor_canaries[2].encode() in handle.read()


@pytest.mark.django_db
def test_retention_with_frozen_clock_on_postgres(course):
    now = timezone.now()
    exam = f.ExamFactory(course=course, retention_days=14)
    sessions = {}
    for label, days_ago in {"expired": 14.01, "boundary": 14, "fresh": 13.99}.items():
        s = f.ExamSessionFactory(exam=exam)
        ExamSession.objects.filter(pk=s.pk).update(
            state="submitted", ended_at=now - timedelta(days=days_ago)
        )
        sessions[label] = s

    report = services.retention_apply(now=now)

    assert sorted(report.shredded) == sorted(
        [str(sessions["expired"].pk), str(sessions["boundary"].pk)]
    )
    assert not ShredRecord.objects.filter(session_ref=sessions["fresh"].pk).exists()


@pytest.mark.django_db
def test_data_export_on_postgres_holds_every_planted_item(session, reviewer, student):
    import io
    import zipfile

    canaries = plant(session, reviewer)
    # The student's own export holds a session's record once it has ended.
    ExamSession.objects.filter(pk=session.pk).update(
        state=ExamSession.State.SUBMITTED, ended_at=timezone.now()
    )
    archive = zipfile.ZipFile(io.BytesIO(
        services.student_data_export(student=student, actor=student)
    ))
    everything = b"".join(archive.read(name) for name in archive.namelist())
    assert all(c.encode() in everything for c in canaries)


@pytest.mark.django_db
def test_break_glass_without_second_approver_is_refused_by_service_and_database(
    session, reviewer
):
    session.exam.keep_originals_days = 1
    session.exam.save()
    frame = services.original_frame_store(
        session=session, seq=1, captured_at=timezone.now(), data=b"raw"
    )
    grant = services.break_glass_request(
        session=session, actor=reviewer, reason="Appeal about a second face in frame 1."
    )
    with pytest.raises(BreakGlassRefused, match="second approver"):
        services.break_glass_approve(grant=grant, actor=reviewer)
    with pytest.raises(BreakGlassRefused):
        services.original_frame_open(frame=frame, actor=reviewer)
    with pytest.raises(IntegrityError, match="break_glass_second_approver"), \
            transaction.atomic():
        BreakGlassGrant.objects.filter(pk=grant.pk).update(
            approved_by=reviewer, status="approved", expires_at=timezone.now()
        )
