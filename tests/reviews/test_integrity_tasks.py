"""The periodic tasks: checkpoints and the spool sync, run as Celery runs them."""

from __future__ import annotations

from django.utils import timezone

from integrity.models import IntegrityCheckpoint
from integrity.services import integrity_append
from integrity.tasks import integrity_checkpoint
from monitoring.evidence import current_evidence_storage, evidence_store
from monitoring.models import Evidence
from monitoring.tasks import evidence_spool_sync


def test_the_checkpoint_task_signs_once_per_change(session):
    integrity_append(kind="test.entry", session=session)
    assert integrity_checkpoint.apply().get() == 1
    assert integrity_checkpoint.apply().get() == 1
    assert IntegrityCheckpoint.objects.count() == 1


def test_evidence_on_the_local_filesystem_is_stored_at_once(session, settings, tmp_path):
    _filesystem_storage(settings, tmp_path)
    evidence = evidence_store(
        session=session, seq=1, captured_at=timezone.now(), content=b"\xff\xd8frame\xff\xd9"
    )
    assert isinstance(evidence, Evidence)
    with current_evidence_storage().open(evidence.image.name, "rb") as handle:
        assert handle.read() == b"\xff\xd8frame\xff\xd9"
    # Encrypted at rest (privacy/storage.py): the file holds no plaintext.
    assert b"frame" not in (tmp_path / evidence.image.name).read_bytes()
    assert evidence_spool_sync.apply().get() == {"stored": 0, "remaining": 0, "error": ""}


def test_beat_runs_the_checkpoint_and_the_spool_sync_beside_other_tasks(settings):
    schedule = settings.CELERY_BEAT_SCHEDULE
    assert schedule["integrity-checkpoint"]["task"] == integrity_checkpoint.name
    assert schedule["evidence-spool-sync"]["task"] == evidence_spool_sync.name
    assert "expire-overdue-sessions" in schedule  # added to main's schedule, not replacing it


def _filesystem_storage(settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path)},
        },
    }


def test_verify_with_evidence_names_a_replaced_object_and_ignores_erased_ones(
    logged_session, settings, tmp_path, capsys
):
    import pytest
    from django.core.management import CommandError, call_command

    from integrity.records import integrity_record_deleted

    session = logged_session
    _filesystem_storage(settings, tmp_path)
    frames = [
        evidence_store(session=session, seq=seq, captured_at=timezone.now(),
                       content=f"frame {seq}".encode())
        for seq in (1, 2, 3)
    ]
    call_command("verify_integrity", "--evidence")
    assert "Evidence: 3 frame(s) match the log (objects read)." in capsys.readouterr().out

    # Erased, with the deletion logged: the log keeps that it existed, and that is fine.
    integrity_record_deleted(record_type="evidence", record_id=frames[0].pk, session=session)
    frames[0].delete()
    (tmp_path / frames[2].image.name).write_bytes(b"a different picture")
    call_command("verify_integrity")  # rows only: the replaced object goes unnoticed
    with pytest.raises(CommandError, match=rf"First bad record: evidence {frames[2].pk} "
                                           r"\(frame 3\): the stored object .*replaced"):
        call_command("verify_integrity", "--evidence")
