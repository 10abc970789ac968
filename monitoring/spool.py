"""The local encrypted spool: evidence bytes kept on disk while the object store is away.

Each file is sealed (AES-256-GCM) under the exam session's own data key, with the object's
name as associated data (privacy/crypto.py), so a file renamed or swapped for
another's fails to open, and crypto-shredding the session makes its spooled frames
unreadable like the rest of its data; the shredding signal also deletes them
(monitoring/evidence.py). Files are written to a temporary name, fsynced and
renamed, so a crash never leaves half a file under a real name.
"""

from __future__ import annotations

import os
import secrets
import uuid
from pathlib import Path

from django.conf import settings

from monitoring.errors import EvidenceStorageError, SpoolCorrupted
from privacy import crypto, keys
from privacy.errors import DecryptionFailed

_FORMAT = b"PSP2"  # file magic and format version: sealed under the session's data key


def _aad(session_id: uuid.UUID | str, object_name: str) -> bytes:
    return crypto.record_aad(session_id=session_id, record=f"spool:{object_name}",
                             field="content")


def spool_dir() -> Path:
    path = Path(settings.PROCTOR_SPOOL_DIR)
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def spool_write(*, session_id: uuid.UUID | str, object_name: str, content: bytes) -> str:
    """Seal ``content`` into a new spool file, durably; return the file's name."""
    sealed = crypto.seal(
        dek=keys.data_key_for_session(session_id, create=True),
        plaintext=content,
        aad=_aad(session_id, object_name),
    )
    directory = spool_dir()
    file_name = f"{secrets.token_hex(16)}.spool"
    temporary = directory / f".{file_name}.tmp"
    try:
        with open(temporary, "wb") as handle:
            handle.write(_FORMAT + sealed)
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


def spool_read(*, session_id: uuid.UUID | str, object_name: str, file_name: str) -> bytes:
    """Open a spooled frame. Raises SpoolCorrupted, or SessionShredded after shredding."""
    path = spool_dir() / file_name
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SpoolCorrupted(f"Spool file {path} for {object_name} is unreadable: {exc}") from exc
    if not raw.startswith(_FORMAT):
        raise SpoolCorrupted(f"Spool file {path} is not a spool file.")
    try:
        return crypto.unseal(
            dek=keys.data_key_for_session(session_id),
            sealed=raw[len(_FORMAT):],
            aad=_aad(session_id, object_name),
        )
    except DecryptionFailed as exc:
        raise SpoolCorrupted(
            f"Spool file {path} does not decrypt as {object_name}: it was altered or "
            "swapped for another frame's file."
        ) from exc


def spool_remove(file_name: str) -> None:
    (spool_dir() / file_name).unlink(missing_ok=True)
