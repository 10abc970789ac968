"""Envelope encryption primitives: AES-256-GCM under per-session data keys (DEKs), wrapped
by key-encryption keys (KEKs) from a versioned key ring that the environment provides.

Nothing here touches the database; privacy/keys.py stores and finds the wrapped DEKs.

* A DEK is 32 random bytes, one per exam session. It is only ever stored wrapped:
  ``nonce ‖ AES-GCM(KEK_v, DEK, aad="proctor/dek/v1|<session>|<v>")``. Binding the
  wrapped key to its session and KEK version means a wrapped DEK copied onto another
  session's row does not unwrap.
* A sealed value is ``0x01 ‖ nonce ‖ AES-GCM(DEK, plaintext, aad)`` where ``aad`` names
  the record (session, model, row, field). A ciphertext moved to another row, field or
  session fails authentication: it is refused loudly, never decrypted into the wrong place.
* Nonces are 96-bit random. NIST SP 800-38D bounds random nonces at 2^32 messages per key;
  one session produces at most tens of thousands, so per-session keys stay far below it.
"""

from __future__ import annotations

import functools
import os
import uuid
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.signals import setting_changed

from privacy.errors import DecryptionFailed, KeyRingMissing, UnknownKeyVersion

KEY_BYTES = 32
NONCE_BYTES = 12
FORMAT_V1 = b"\x01"
DEVELOPMENT_LABEL = b"proctor development key ring v1 -- NOT FOR PRODUCTION"


@dataclass(frozen=True)
class KeyRing:
    """KEKs by version, the version new wraps use, and whether it is the development ring."""

    keys: dict[int, bytes]
    active_version: int
    is_development: bool = False

    def __repr__(self) -> str:  # never print key material
        return (
            f"KeyRing(versions={sorted(self.keys)}, active={self.active_version}, "
            f"development={self.is_development})"
        )

    def kek(self, version: int) -> bytes:
        try:
            return self.keys[version]
        except KeyError:
            raise UnknownKeyVersion(
                f"Key version {version} is not in PROCTOR_KEYRING (it holds "
                f"{sorted(self.keys)}); put the retired key back until `manage.py rotate_keys` "
                "has rewrapped every data key under the active one."
            ) from None


def development_keyring(secret_key: str) -> KeyRing:
    """A key ring derived from SECRET_KEY for DEBUG and the embedded demo only.

    The system check privacy.E001 refuses to run without a real key ring when DEBUG is off,
    so this never protects production data.
    """
    kek = HKDF(
        algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=DEVELOPMENT_LABEL
    ).derive(secret_key.encode())
    return KeyRing(keys={1: kek}, active_version=1, is_development=True)


@functools.cache
def keyring() -> KeyRing:
    """The configured key ring (cached; cleared when a test overrides the settings)."""
    keys: dict[int, bytes] = dict(settings.PROCTOR_KEYRING)
    if not keys:
        if settings.DEBUG:
            return development_keyring(settings.SECRET_KEY)
        raise KeyRingMissing(
            "PROCTOR_KEYRING is not set and DEBUG is off: evidence cannot be encrypted. "
            "Set PROCTOR_KEYRING (or PROCTOR_KEYRING_FILE) to `1:<base64 of 32 random bytes>` "
            "(see docs/encryption.md)."
        )
    active = settings.PROCTOR_KEYRING_ACTIVE or max(keys)
    if active not in keys:
        raise UnknownKeyVersion(
            f"PROCTOR_KEYRING_ACTIVE={active} names no key in PROCTOR_KEYRING "
            f"(versions {sorted(keys)})."
        )
    return KeyRing(keys=keys, active_version=active)


def _clear_keyring(*, setting: str, **kwargs: Any) -> None:
    if setting in {"PROCTOR_KEYRING", "PROCTOR_KEYRING_ACTIVE", "DEBUG", "SECRET_KEY"}:
        keyring.cache_clear()


setting_changed.connect(_clear_keyring, dispatch_uid="privacy.crypto.clear_keyring")


def new_data_key() -> bytes:
    return AESGCM.generate_key(bit_length=KEY_BYTES * 8)


def _dek_aad(session_id: uuid.UUID | str, version: int) -> bytes:
    return f"proctor/dek/v1|{session_id}|{version}".encode()


def wrap_data_key(
    *, dek: bytes, session_id: uuid.UUID | str, ring: KeyRing, version: int
) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(ring.kek(version)).encrypt(nonce, dek, _dek_aad(session_id, version))


def unwrap_data_key(
    *, wrapped: bytes, session_id: uuid.UUID | str, ring: KeyRing, version: int
) -> bytes:
    nonce, body = wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:]
    try:
        return AESGCM(ring.kek(version)).decrypt(nonce, body, _dek_aad(session_id, version))
    except InvalidTag:
        raise DecryptionFailed(
            f"The data key of session {session_id} does not unwrap under key version {version}: "
            "the wrapped key was altered, copied from another session, or PROCTOR_KEYRING "
            f"holds a different key under version {version}."
        ) from None


def record_aad(*, session_id: uuid.UUID | str, record: str, field: str) -> bytes:
    """The identity a sealed value is bound to: which session, which row, which field."""
    return f"proctor/v1|session={session_id}|record={record}|field={field}".encode()


def seal(*, dek: bytes, plaintext: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return FORMAT_V1 + nonce + AESGCM(dek).encrypt(nonce, plaintext, aad)


def unseal(*, dek: bytes, sealed: bytes, aad: bytes) -> bytes:
    """Open ``sealed``; raise DecryptionFailed (naming the identity) if it is not ours."""
    if sealed[:1] != FORMAT_V1 or len(sealed) < 1 + NONCE_BYTES + 16:
        raise DecryptionFailed(
            f"Not a Proctor ciphertext (format byte {sealed[:1]!r}, {len(sealed)} bytes) for "
            f"{aad.decode(errors='replace')}."
        )
    nonce, body = sealed[1 : 1 + NONCE_BYTES], sealed[1 + NONCE_BYTES :]
    try:
        return AESGCM(dek).decrypt(nonce, body, aad)
    except InvalidTag:
        raise DecryptionFailed(
            f"Ciphertext for {aad.decode(errors='replace')} does not decrypt: it was moved "
            "from another row, field or session, or altered. Restore it from a backup of "
            "the same row; do not copy ciphertext between records."
        ) from None
