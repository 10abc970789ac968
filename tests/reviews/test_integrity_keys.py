"""The signing key's configuration: refused when missing outside DEBUG, or malformed."""

from __future__ import annotations

from integrity.checks import check_integrity_signing_key
from integrity.keys import generate_key


def _ids(errors):
    return [error.id for error in errors]


def test_the_development_key_is_refused_when_debug_is_off(settings):
    settings.DEBUG = False
    settings.PROCTOR_INTEGRITY_SIGNING_KEY = settings.INSECURE_INTEGRITY_SIGNING_KEY
    errors = check_integrity_signing_key(None)
    assert _ids(errors) == ["proctor.E002"]
    assert "PROCTOR_INTEGRITY_SIGNING_KEY is not set" in errors[0].msg


def test_the_development_key_is_accepted_under_debug(settings):
    settings.DEBUG = True
    settings.PROCTOR_INTEGRITY_SIGNING_KEY = settings.INSECURE_INTEGRITY_SIGNING_KEY
    assert check_integrity_signing_key(None) == []


def test_a_generated_key_passes_and_a_short_one_is_named(settings):
    settings.DEBUG = False
    settings.PROCTOR_INTEGRITY_SIGNING_KEY = generate_key()
    assert check_integrity_signing_key(None) == []
    settings.PROCTOR_INTEGRITY_SIGNING_KEY = "c2hvcnQ="
    errors = check_integrity_signing_key(None)
    assert _ids(errors) == ["proctor.E003"]
    assert "decodes to 5 bytes" in errors[0].msg


def test_keygen_prints_a_usable_key_and_its_public_half(capsys, settings):
    import base64

    from django.core.management import call_command

    from integrity.keys import load_key

    call_command("integrity_keygen")
    lines = capsys.readouterr().out.splitlines()
    secret = lines[0].removeprefix("PROCTOR_INTEGRITY_SIGNING_KEY=")
    key = load_key("generated", secret)
    assert lines[1] == f"public key: {base64.b64encode(key.public_bytes).decode()}"
    assert lines[2] == f"key id: {key.key_id}"
