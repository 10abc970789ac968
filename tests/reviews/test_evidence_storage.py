"""Evidence storage against a real S3-protocol server (moto's), including an outage.

The server is a separate process started here on a free port. "Down for a while" is the
process paused with SIGSTOP (connections hang until the client's timeout, as with a
network partition) and then resumed; "down hard" is the process killed (connections
refused) and a new one started on the same port.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from django.utils import timezone

from integrity.models import IntegrityLeaf
from monitoring.errors import SpoolCorrupted
from monitoring.evidence import (
    _upload,
    current_evidence_storage,
    evidence_spool_sync,
    evidence_store,
)
from monitoring.models import Evidence, SpooledEvidence
from monitoring.spool import spool_read, spool_write

BUCKET = "proctor-evidence"
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class MotoServer:
    def __init__(self, port: int) -> None:
        self.port = port
        self.endpoint = f"http://127.0.0.1:{port}"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(  # noqa: S603  (our interpreter, moto's module)
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.2)
        else:
            raise RuntimeError(f"moto server did not listen on {self.port} within 60 s")
        self.client().create_bucket(Bucket=BUCKET)

    def client(self):
        return boto3.client(
            "s3", endpoint_url=self.endpoint, region_name="us-east-1", **CREDENTIALS
        )

    def pause(self) -> None:
        os.kill(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.process.pid, signal.SIGCONT)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGCONT)
            self.process.kill()
            self.process.wait(timeout=10)

    def object_bytes(self, name: str) -> bytes:
        return self.client().get_object(Bucket=BUCKET, Key=name)["Body"].read()


@pytest.fixture
def s3(settings, tmp_path):
    server = MotoServer(_free_port())
    server.start()
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": BUCKET,
                "endpoint_url": server.endpoint,
                "region_name": "us-east-1",
                "access_key": CREDENTIALS["aws_access_key_id"],
                "secret_key": CREDENTIALS["aws_secret_access_key"],
                "file_overwrite": True,
                # Short enough to keep the outage quick, long enough for a loaded machine.
                "client_config": Config(
                    connect_timeout=1, read_timeout=2, retries={"max_attempts": 2}
                ),
            },
        },
    }
    settings.PROCTOR_SPOOL_DIR = tmp_path / "spool"
    yield server
    server.kill()


def _frame(seq: int) -> bytes:
    return b"\xff\xd8" + f"CANARY-frame-{seq}".encode() * 20 + b"\xff\xd9"


def _store(session, seq):
    return evidence_store(
        session=session, seq=seq, captured_at=timezone.now(), content=_frame(seq),
        width=640, height=480,
    )


def _assert_stored(s3: MotoServer, evidence: Evidence) -> None:
    """The object is in the store, and reads back as the frame through the app's storage."""
    raw = s3.object_bytes(evidence.image.name)
    with current_evidence_storage().open(evidence.image.name, "rb") as handle:
        assert handle.read() == _frame(evidence.seq)
    # With encryption at rest the store holds ciphertext only (privacy/storage.py).
    assert b"CANARY" not in raw


def _spool_files(settings) -> list[Path]:
    return sorted(Path(settings.PROCTOR_SPOOL_DIR).glob("*.spool"))


def test_evidence_goes_to_the_object_store_and_is_logged(s3, session):
    evidence = _store(session, 1)
    assert isinstance(evidence, Evidence)
    _assert_stored(s3, evidence)
    assert IntegrityLeaf.objects.filter(kind="evidence.stored").count() == 1


def test_an_outage_loses_nothing_and_shows_nothing_early(
    s3, session, settings, django_capture_on_commit_callbacks
):
    _store(session, 1)
    s3.pause()
    spooled = [_store(session, seq) for seq in (2, 3)]
    assert all(isinstance(entry, SpooledEvidence) for entry in spooled)
    # Not shown as present: no Evidence rows until the frames are in the object store.
    assert list(Evidence.objects.values_list("seq", flat=True)) == [1]
    files = _spool_files(settings)
    assert len(files) == 2
    for path in files:
        assert b"CANARY" not in path.read_bytes()  # encrypted at rest

    result = evidence_spool_sync()
    assert (result.stored, result.remaining) == (0, 2)
    assert "timeout" in result.error.lower() or "connect" in result.error.lower()
    assert SpooledEvidence.objects.get(seq=2).attempts == 1

    s3.resume()
    # Older frames still wait, so a new one queues behind them instead of overtaking.
    assert isinstance(_store(session, 4), SpooledEvidence)
    with django_capture_on_commit_callbacks(execute=True):  # the spool files' removal
        result = evidence_spool_sync()
    assert (result.stored, result.remaining) == (3, 0)
    stored = list(Evidence.objects.order_by("seq"))
    assert [evidence.seq for evidence in stored] == [1, 2, 3, 4]
    for evidence in stored:
        _assert_stored(s3, evidence)
    assert _spool_files(settings) == []
    logged = IntegrityLeaf.objects.filter(kind="evidence.stored").order_by("index")
    assert [leaf.body.count('"seq":') for leaf in logged] == [2, 2, 2, 2]
    assert [int(leaf.body.split('"data":{')[1].split('"seq":')[1].split(",")[0])
            for leaf in logged] == [1, 2, 3, 4]

    again = evidence_spool_sync()  # idempotent: nothing left, nothing duplicated
    assert (again.stored, again.remaining) == (0, 0)
    assert Evidence.objects.count() == 4


def test_a_killed_store_that_comes_back_receives_the_spooled_frames(s3, session, settings):
    s3.kill()
    assert isinstance(_store(session, 7), SpooledEvidence)
    assert evidence_spool_sync().remaining == 1
    s3.start()  # a new process on the same port, empty, as after a restore
    assert evidence_spool_sync().stored == 1
    evidence = Evidence.objects.get(seq=7)
    _assert_stored(s3, evidence)


def test_an_upload_repeated_after_a_crash_creates_one_evidence(s3, session):
    s3.pause()
    entry = _store(session, 5)
    s3.resume()
    # The previous sync uploaded the object and died before its database commit.
    _upload(entry.object_name, _frame(5))
    assert evidence_spool_sync().stored == 1
    assert Evidence.objects.filter(seq=5).count() == 1
    _assert_stored(s3, Evidence.objects.get(seq=5))


def test_a_configuration_error_raises_instead_of_spooling(s3, session, settings):
    from botocore.exceptions import ClientError

    settings.STORAGES["default"]["OPTIONS"]["bucket_name"] = "no-such-bucket"
    settings.STORAGES = {**settings.STORAGES}  # tell Django the storages changed
    with pytest.raises(ClientError, match="NoSuchBucket"):
        _store(session, 1)
    assert not SpooledEvidence.objects.exists()
    assert not Evidence.objects.exists()


def test_a_spool_file_moved_to_another_name_fails_to_decrypt(settings, tmp_path, session):
    settings.PROCTOR_SPOOL_DIR = tmp_path
    name = f"evidence/{session.pk}/00000001.jpg"
    file_name = spool_write(session_id=session.pk, object_name=name, content=b"frame")
    assert b"frame" not in (tmp_path / file_name).read_bytes()
    assert spool_read(session_id=session.pk, object_name=name, file_name=file_name) == b"frame"
    other = f"evidence/{session.pk}/00000002.jpg"
    with pytest.raises(SpoolCorrupted, match=f"does not decrypt as {other}"):
        spool_read(session_id=session.pk, object_name=other, file_name=file_name)


def test_shredding_a_session_drops_its_spooled_frames(
    s3, session, settings, django_capture_on_commit_callbacks
):
    from lifecycle.services import session_shred
    from privacy.errors import SessionShredded

    s3.pause()
    entry = _store(session, 1)
    s3.resume()
    spool = Path(settings.PROCTOR_SPOOL_DIR)
    (spool / "backup.copy").write_bytes((spool / entry.spool_file).read_bytes())
    with django_capture_on_commit_callbacks(execute=True):
        record = session_shred(session=session, cause="retention")
    assert record.objects_deleted >= 1
    assert not SpooledEvidence.objects.exists()
    assert _spool_files(settings) == []
    with pytest.raises(SessionShredded):  # and a copy of the file kept elsewhere is dead
        spool_read(
            session_id=session.pk, object_name=entry.object_name, file_name="backup.copy"
        )


def test_a_frame_shredded_while_the_sync_runs_is_dropped_not_retried(s3, session, settings):
    from privacy import keys
    from privacy.models import SessionKey

    s3.pause()
    _store(session, 1)
    s3.resume()
    # The key destroyed, as shredding does, but the spool row not yet gone (a race).
    SessionKey.objects.filter(session=session).update(
        wrapped_dek=b"", shredded_at=timezone.now()
    )
    keys.cache_evict(session.pk)
    result = evidence_spool_sync()
    assert (result.stored, result.remaining) == (0, 0)
    assert not Evidence.objects.exists()
    assert _spool_files(settings) == []
