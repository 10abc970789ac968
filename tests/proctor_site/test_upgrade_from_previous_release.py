"""A database made by the previous release migrates forward with nothing lost.

``tests/data/legacy_demo_db.tar.gz`` holds the SQLite database and evidence files that
``seed_demo`` and ``seed_review_demo`` of the release before the app split (commit
697766c) made, plus an incident with an encrypted payload, a confirmed decision and a
closed review with encrypted notes, and an appeal, all written through that release's
services under the key ring below. The test upgrades a copy in a separate process, as an
operator would: ``migrate``, then ``integrity_adopt_records`` (the log of that release
recorded creations only), then ``verify_integrity --evidence``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "data" / "legacy_demo_db.tar.gz"
# Test-only keys, the ones the fixture was made with (never used anywhere else).
KEYRING = "1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
SIGNING_KEY = "QPtbfPH1q/4KL4iNfMP+qFbKMxZKP2dTQ/3SUizoTQQ="

CHECK_ROWS = """
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from audit.models import AuditEvent
from monitoring.models import Evidence, Incident
from reviews.models import Appeal, ReviewDecision
legacy = Incident.objects.get(payload__isnull=False, pk=25)
print("payload", legacy.payload.decode())
print("status", legacy.status)
print("notes", sorted(d.note for d in ReviewDecision.objects.all()))
print("appeal", Appeal.objects.get().text)
print("counts", Incident.objects.count(), Evidence.objects.count(), AuditEvent.objects.count())
evidence = Evidence.objects.order_by("pk").first()
with evidence.image.open("rb") as handle:
    print("jpeg", handle.read()[:2] == b"\\xff\\xd8")
print("stale content types", ContentType.objects.filter(
    app_label="reviews").exclude(model__in=["reviewdecision", "appeal"]).count())
print("reviewer perms", Group.objects.get(name="Reviewers").permissions.filter(
    content_type__app_label="monitoring", codename="view_incident").exists())
"""


@pytest.fixture
def legacy_site(tmp_path):
    with tarfile.open(FIXTURE) as archive:
        archive.extractall(tmp_path, filter="data")
    env = {
        **os.environ,
        "DEBUG": "1",
        "PROCTOR_VAR_DIR": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "MEDIA_ROOT": str(tmp_path / "media"),
        "PROCTOR_SPOOL_DIR": str(tmp_path / "spool"),
        "PROCTOR_KEYRING": KEYRING,
        "PROCTOR_INTEGRITY_SIGNING_KEY": SIGNING_KEY,
        "REDIS_URL": "",
    }

    def manage(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: S603  (our own manage.py, fixed arguments)
            [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True,
            text=True, timeout=300, check=False,
        )

    return manage


def test_previous_release_database_migrates_with_every_row_readable_and_verified(legacy_site):
    migrated = legacy_site("migrate", "--noinput")
    assert migrated.returncode == 0, migrated.stderr

    rows = legacy_site("shell", "-c", CHECK_ROWS)
    assert rows.returncode == 0, rows.stderr
    out = rows.stdout
    assert 'payload {"source": "legacy", "evidence_seqs": [1, 2]}' in out
    assert "status confirmed" in out
    assert "notes ['Empty chair for nine seconds.', 'Legacy close note.']" in out
    assert "appeal I was fetching water." in out
    assert "counts 25 12 " in out
    assert "jpeg True" in out
    assert "stale content types 0" in out
    assert "reviewer perms True" in out

    adopted = legacy_site("integrity_adopt_records")
    assert adopted.returncode == 0, adopted.stderr
    verified = legacy_site("verify_integrity", "--evidence")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "Integrity OK" in verified.stdout
    assert "Evidence: 12 frame" in verified.stdout or "evidence 12" in verified.stdout


def test_previous_release_database_still_detects_an_edit_after_the_upgrade(legacy_site):
    assert legacy_site("migrate", "--noinput").returncode == 0
    assert legacy_site("integrity_adopt_records").returncode == 0
    edited = legacy_site(
        "shell", "-c",
        "from monitoring.models import Incident; "
        "Incident.objects.filter(pk=25).update(severity='low')",
    )
    assert edited.returncode == 0, edited.stderr

    verified = legacy_site("verify_integrity")

    assert verified.returncode != 0
    assert "incident 25" in verified.stdout + verified.stderr
    assert "severity" in verified.stdout + verified.stderr
