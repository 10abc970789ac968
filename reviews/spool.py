"""The local encrypted spool: evidence bytes kept on disk while the object store is away.

Each file is AES-256-GCM with a random 96-bit nonce and the object's name as associated
data, so a file renamed or swapped for another's fails to decrypt. Files are written to a
temporary name, fsynced and renamed, so a crash never leaves half a file under a real name.

Key seam (issue 7): the spool key comes from PROCTOR_SPOOL_KEY for now. When the
per-session data keys of the encryption work land, ``_key_for`` should return the
session's key instead, so that shredding a session also shreds its spooled frames.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings

from reviews.errors import EvidenceStorageError, SpoolCorrupted

NONCE_BYTES = 12
_FORMAT = b"PSP1"  # file magic and format version


def _key_for(object_name: str) -> bytes:
    try:
        key = base64.b64decode(settings.PROCTOR_SPOOL_KEY, validate=True)
    except binascii.Error as exc:
        raise EvidenceStorageError(f"PROCTOR_SPOOL_KEY is not valid base64: {exc}.") from exc
    if len(key) != 32:
        raise EvidenceStorageError(
            f"PROCTOR_SPOOL_KEY decodes to {len(key)} bytes; AES-256 needs 32."
        )
    return key


def spool_dir() -> Path:
    path = Path(settings.PROCTOR_SPOOL_DIR)
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def spool_write(*, object_name: str, content: bytes) -> str:
    """Encrypt ``content`` into a new spool file, durably; return the file's name."""
    nonce = os.urandom(NONCE_BYTES)
    sealed = AESGCM(_key_for(object_name)).encrypt(nonce, content, object_name.encode())
    directory = spool_dir()
    file_name = f"{secrets.token_hex(16)}.spool"
    temporary = directory / f".{file_name}.tmp"
    try:
        with open(temporary, "wb") as handle:
            handle.write(_FORMAT + nonce + sealed)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, directory / file_name)
        directory_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(directory_fd)  # the rename itself must survive a power cut
        finally:
            os.close(directory_fd)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise EvidenceStorageError(
            f"Cannot write {object_name} to the spool in {directory}: {exc}. The object "
            "store is unreachable too, so the frame was not kept; the client should resend."
        ) from exc
    return file_name


def spool_read(*, object_name: str, file_name: str) -> bytes:
    path = spool_dir() / file_name
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SpoolCorrupted(f"Spool file {path} for {object_name} is unreadable: {exc}") from exc
    if not raw.startswith(_FORMAT):
        raise SpoolCorrupted(f"Spool file {path} is not a spool file.")
    nonce = raw[len(_FORMAT) : len(_FORMAT) + NONCE_BYTES]
    try:
        return AESGCM(_key_for(object_name)).decrypt(
            nonce, raw[len(_FORMAT) + NONCE_BYTES :], object_name.encode()
        )
    except InvalidTag as exc:
        raise SpoolCorrupted(
            f"Spool file {path} does not decrypt as {object_name}: it was altered, swapped "
            "or written with another PROCTOR_SPOOL_KEY."
        ) from exc


def spool_remove(file_name: str) -> None:
    (spool_dir() / file_name).unlink(missing_ok=True)
