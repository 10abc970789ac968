"""The standalone verifier checks an exported bundle against a published checkpoint."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command

from integrity.keys import active_key
from integrity.services import integrity_append, integrity_checkpoint_create
from tests import factories as f

ROOT = Path(settings.BASE_DIR)


def _public_key() -> str:
    return base64.b64encode(active_key().public_bytes).decode()


def _run(*args: str) -> subprocess.CompletedProcess:
    """Run the verifier in a fresh interpreter and prove it never imported Django."""
    code = (
        "import sys\n"
        "from integrity.offline_verifier import main\n"
        "code = main(sys.argv[1:])\n"
        "assert 'django' not in sys.modules, 'the offline verifier imported Django'\n"
        "sys.exit(code)\n"
    )
    return subprocess.run(  # noqa: S603  (our own interpreter and module)
        [sys.executable, "-c", code, *args], cwd=ROOT, capture_output=True, text=True,
        env={"PATH": "/usr/bin:/bin"}, timeout=60,
    )


@pytest.fixture
def exported(session, exam, other_student, tmp_path):
    """A published checkpoint, then more entries, then a bundle against a later one."""
    other = f.ExamSessionFactory(exam=exam, student=other_student)
    for position in range(9):
        integrity_append(kind="test.entry", session=session if position % 3 else other)
    published = tmp_path / "published.json"
    call_command("integrity_checkpoint", "--output", str(published))
    for position in range(5):
        integrity_append(kind="test.entry", session=session if position % 2 else other)
    integrity_checkpoint_create()
    bundle = tmp_path / "bundle.json"
    call_command("integrity_export_bundle", "--session", str(session.pk), "--output", str(bundle))
    return bundle, published


def test_an_untouched_bundle_verifies_against_the_earlier_published_checkpoint(exported):
    bundle, published = exported
    result = _run(str(bundle), "--public-key", _public_key(), "--checkpoint", str(published))
    assert result.returncode == 0, result.stderr
    assert "OK: 8 entries of session" in result.stdout
    assert "in the log of 14 leaves" in result.stdout


def test_an_edited_entry_fails(exported):
    bundle, published = exported
    data = json.loads(bundle.read_text())
    data["entries"][3]["body"] = data["entries"][3]["body"].replace("test.entry", "test.fake")
    bundle.write_text(json.dumps(data))
    result = _run(str(bundle), "--public-key", _public_key(), "--checkpoint", str(published))
    assert result.returncode == 1
    assert "entry 3 (leaf" in result.stderr and "is not included" in result.stderr


def test_a_dropped_entry_fails(exported):
    bundle, published = exported
    data = json.loads(bundle.read_text())
    del data["entries"][2]
    bundle.write_text(json.dumps(data))
    result = _run(str(bundle), "--public-key", _public_key())
    assert result.returncode == 1
    assert "is the session's entry 3 but entry 2 was expected" in result.stderr


def test_a_checkpoint_signed_by_another_key_fails(exported):
    bundle, _ = exported
    stranger = base64.b64encode(b"\x01" * 32).decode()
    result = _run(str(bundle), "--public-key", stranger)
    assert result.returncode == 1
    assert "not by the given key" in result.stderr


def test_a_forked_history_fails_against_the_published_checkpoint(exported, tmp_path):
    bundle, published = exported
    data = json.loads(bundle.read_text())
    data["consistency"][0]["proof"][0] = "00" * 32
    bundle.write_text(json.dumps(data))
    result = _run(str(bundle), "--public-key", _public_key(), "--checkpoint", str(published))
    assert result.returncode == 1
    assert "does not extend the tree of 9 leaves" in result.stderr


def test_export_refuses_a_checkpoint_of_another_log_or_with_a_bad_signature(
    session, tmp_path
):
    from django.core.management import CommandError

    integrity_append(kind="test.entry", session=session)
    published = tmp_path / "published.json"
    call_command("integrity_checkpoint", "--output", str(published))
    data = json.loads(published.read_text())
    for field, value, message in (
        ("origin", "elsewhere.example/log", "is for log 'elsewhere.example/log'"),
        ("root_hash", "00" * 32, "bad signature"),
    ):
        forged = tmp_path / f"forged-{field}.json"
        forged.write_text(json.dumps({**data, field: value}))
        with pytest.raises(CommandError, match=message):
            call_command("integrity_export_bundle", "--session", str(session.pk),
                         "--checkpoint", str(forged))
