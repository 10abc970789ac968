"""Key ring configuration and KEK rotation."""

from __future__ import annotations

import base64
import json

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command

from monitoring.models import Incident
from privacy import crypto, keys
from privacy.checks import check_keyring
from privacy.errors import KeyRingMissing
from privacy.models import SessionKey
from proctor_site.env import env_keyring
from tests import factories as f
from tests.reviews.privacy.helpers import js

NEW_KEK = bytes(range(100, 132))


def _ring(*versions):
    return {v: (bytes(range(32)) if v == 1 else NEW_KEK) for v in versions}


def test_env_keyring_parses_versions_and_hides_key_material(monkeypatch):
    key = base64.b64encode(bytes(32)).decode()
    monkeypatch.setenv("PROCTOR_KEYRING", f"1:{key}, 2:{key}")
    assert sorted(env_keyring("PROCTOR_KEYRING")) == [1, 2]

    monkeypatch.setenv("PROCTOR_KEYRING", "1:c2hvcnQ=")
    with pytest.raises(ImproperlyConfigured, match="version 1 is 5 bytes; AES-256 needs 32"):
        env_keyring("PROCTOR_KEYRING")


def test_env_keyring_reads_a_file(monkeypatch, tmp_path):
    path = tmp_path / "ring"
    path.write_text(f"3:{base64.b64encode(bytes(32)).decode()}\n")
    monkeypatch.delenv("PROCTOR_KEYRING", raising=False)
    monkeypatch.setenv("PROCTOR_KEYRING_FILE", str(path))
    assert list(env_keyring("PROCTOR_KEYRING")) == [3]


def test_missing_keyring_is_refused_without_debug(settings):
    settings.PROCTOR_KEYRING = {}
    settings.DEBUG = False
    assert [e.id for e in check_keyring(None)] == ["privacy.E001"]
    with pytest.raises(KeyRingMissing, match="PROCTOR_KEYRING is not set and DEBUG is off"):
        crypto.keyring()


def test_debug_derives_a_labelled_development_ring(settings):
    settings.PROCTOR_KEYRING = {}
    settings.DEBUG = True
    ring = crypto.keyring()
    assert ring.is_development
    assert [w.id for w in check_keyring(None)] == ["privacy.W001"]
    assert "NEW_KEK" not in repr(ring) and "development=True" in repr(ring)


def test_active_version_must_exist(settings):
    settings.PROCTOR_KEYRING_ACTIVE = 5
    assert [e.id for e in check_keyring(None)] == ["privacy.E002"]


@pytest.mark.django_db
def test_rotation_rewraps_keys_without_touching_data(session, exam, other_student, settings):
    other = f.ExamSessionFactory(exam=exam, student=other_student)
    first = f.IncidentFactory(session=session, payload=js({"canary": "rot-1"}))
    second = f.IncidentFactory(session=other, payload=js({"canary": "rot-2"}))
    payload_before = Incident.objects.filter(pk=first.pk).values_list("payload", flat=True)[0]

    settings.PROCTOR_KEYRING = _ring(1, 2)
    call_command("rotate_keys", batch_size=1, max_batches=1)
    assert sorted(SessionKey.objects.values_list("kek_version", flat=True)) == [1, 2]

    call_command("rotate_keys")  # resumes where the first run stopped
    assert set(SessionKey.objects.values_list("kek_version", flat=True)) == {2}
    assert Incident.objects.filter(pk=first.pk).values_list("payload", flat=True)[0] == (
        payload_before
    )
    settings.PROCTOR_KEYRING = _ring(2)  # the old KEK is retired
    keys.cache_evict()
    assert json.loads(Incident.objects.get(pk=first.pk).payload) == {"canary": "rot-1"}
    assert json.loads(Incident.objects.get(pk=second.pk).payload) == {"canary": "rot-2"}
