"""Typed readers for settings that come from the environment.

Every reader takes the variable's name and a default written next to it in settings.py,
and raises ImproperlyConfigured naming the variable when its value cannot be parsed.
A secret may also come from ``NAME_FILE`` (a path whose contents are the value), the way
container orchestrators mount secrets.
"""

from __future__ import annotations

import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str) -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean; use 1/0, true/false or yes/no.")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a whole number.") from exc
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name}={value} is below its minimum of {minimum}.")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_secret(name: str) -> str | None:
    """The value of ``name``, or the contents of the file named by ``name_FILE``, or None."""
    value = os.environ.get(name)
    if value:
        return value
    path = os.environ.get(f"{name}_FILE")
    if not path:
        return None
    try:
        return Path(path).read_text().strip()
    except OSError as exc:
        raise ImproperlyConfigured(f"{name}_FILE={path!r} cannot be read: {exc}") from exc


def env_keyring(name: str) -> dict[int, bytes]:
    """A versioned key ring from ``name`` (or ``name_FILE``): ``version:base64key`` entries
    separated by commas, spaces or newlines, each key exactly 32 bytes. Empty when unset.

    Error messages name the variable and the entry's position, never key material.
    """
    import base64
    import binascii
    import re

    raw = env_secret(name)
    if not raw:
        return {}
    ring: dict[int, bytes] = {}
    for position, entry in enumerate(re.split(r"[\s,]+", raw.strip()), start=1):
        version_text, separator, key_text = entry.partition(":")
        if not separator or not version_text.isdigit() or int(version_text) < 1:
            raise ImproperlyConfigured(
                f"{name}: entry {position} is not `version:base64key` with a version >= 1."
            )
        try:
            key = base64.b64decode(key_text, validate=True)
        except binascii.Error as exc:
            raise ImproperlyConfigured(
                f"{name}: the key of version {version_text} is not valid base64."
            ) from exc
        if len(key) != 32:
            raise ImproperlyConfigured(
                f"{name}: the key of version {version_text} is {len(key)} bytes; AES-256 "
                "needs 32 (generate one with `python -c \"import os,base64;"
                "print(base64.b64encode(os.urandom(32)).decode())\"`)."
            )
        if int(version_text) in ring:
            raise ImproperlyConfigured(f"{name}: version {version_text} appears twice.")
        ring[int(version_text)] = key
    return ring
