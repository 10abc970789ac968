"""Settings readers: bad values name the variable; secrets may come from a file."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from proctor_site.env import env_bool, env_int, env_list, env_secret


def test_env_bool_reads_common_spellings(monkeypatch):
    monkeypatch.setenv("FLAG", "Yes")
    assert env_bool("FLAG", False) is True
    monkeypatch.setenv("FLAG", "0")
    assert env_bool("FLAG", True) is False
    monkeypatch.delenv("FLAG")
    assert env_bool("FLAG", True) is True


def test_env_bool_names_the_variable_on_a_bad_value(monkeypatch):
    monkeypatch.setenv("DEBUG_X", "maybe")
    with pytest.raises(ImproperlyConfigured, match=r"DEBUG_X='maybe' is not a boolean"):
        env_bool("DEBUG_X", False)


def test_env_int_checks_number_and_minimum(monkeypatch):
    monkeypatch.setenv("LIMIT", "ten")
    with pytest.raises(ImproperlyConfigured, match="LIMIT='ten' is not a whole number"):
        env_int("LIMIT", 1)
    monkeypatch.setenv("LIMIT", "3")
    with pytest.raises(ImproperlyConfigured, match="LIMIT=3 is below its minimum of 5"):
        env_int("LIMIT", 10, minimum=5)


def test_env_list_splits_and_trims(monkeypatch):
    monkeypatch.setenv("HOSTS", " a.example , b.example,,")
    assert env_list("HOSTS", []) == ["a.example", "b.example"]


def test_env_secret_reads_a_file(monkeypatch, tmp_path):
    secret = tmp_path / "key"
    secret.write_text("s3cr3t-value\n")
    monkeypatch.delenv("MY_SECRET", raising=False)
    monkeypatch.setenv("MY_SECRET_FILE", str(secret))
    assert env_secret("MY_SECRET") == "s3cr3t-value"


def test_env_secret_names_an_unreadable_file(monkeypatch, tmp_path):
    monkeypatch.delenv("MY_SECRET", raising=False)
    monkeypatch.setenv("MY_SECRET_FILE", str(tmp_path / "missing"))
    with pytest.raises(ImproperlyConfigured, match="MY_SECRET_FILE=.* cannot be read"):
        env_secret("MY_SECRET")
