"""The log's keys: the Ed25519 signing key from settings, its public half and MAC key.

One secret, ``PROCTOR_INTEGRITY_SIGNING_KEY``, gives two keys: the Ed25519 key that signs
checkpoints (its public half is what anyone verifies with) and, through HKDF, an HMAC key
that seals each row, so that an edited row is named by the verifier even when the editor
also recomputed its hash. Retired keys stay usable for verifying only.
"""

from __future__ import annotations

import base64
import binascii
import functools
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

from integrity.errors import IntegrityLogError
from integrity.merkle import key_id_for


class IntegrityKeyError(IntegrityLogError):
    pass


@dataclass(frozen=True)
class SigningKey:
    key_id: str
    private_key: Ed25519PrivateKey
    public_bytes: bytes
    mac_key: bytes

    def sign(self, data: bytes) -> bytes:
        return self.private_key.sign(data)


def load_key(name: str, value: str) -> SigningKey:
    try:
        seed = base64.b64decode(value, validate=True)
    except binascii.Error as exc:
        raise IntegrityKeyError(f"{name} is not valid base64: {exc}.") from exc
    if len(seed) != 32:
        raise IntegrityKeyError(
            f"{name} decodes to {len(seed)} bytes; an Ed25519 private key is 32 bytes "
            "(generate one with `python manage.py integrity_keygen`)."
        )
    private_key = Ed25519PrivateKey.from_private_bytes(seed)
    public_bytes = private_key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    mac_key = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"proctor integrity row mac v1"
    ).derive(seed)
    return SigningKey(key_id_for(public_bytes), private_key, public_bytes, mac_key)


@functools.cache
def _keys(current: str, retired: tuple[str, ...]) -> tuple[SigningKey, dict[str, SigningKey]]:
    active = load_key("PROCTOR_INTEGRITY_SIGNING_KEY", current)
    by_id = {active.key_id: active}
    for position, value in enumerate(retired):
        key = load_key(f"PROCTOR_INTEGRITY_RETIRED_KEYS[{position}]", value)
        by_id.setdefault(key.key_id, key)
    return active, by_id


def signing_keys() -> tuple[SigningKey, dict[str, SigningKey]]:
    """The active key and every known key by id (active and retired)."""
    return _keys(
        settings.PROCTOR_INTEGRITY_SIGNING_KEY, tuple(settings.PROCTOR_INTEGRITY_RETIRED_KEYS)
    )


def active_key() -> SigningKey:
    return signing_keys()[0]


def generate_key() -> str:
    """A new signing key, base64, for PROCTOR_INTEGRITY_SIGNING_KEY."""
    seed = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.Raw,
        serialization.PrivateFormat.Raw,
        serialization.NoEncryption(),
    )
    return base64.b64encode(seed).decode("ascii")
