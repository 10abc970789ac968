"""A storage wrapper that encrypts every file under its exam session's data key.

File names carry the session: ``<area>/<session uuid>/<random>.bin``. The sealed bytes are
bound to that exact name, so a file copied to another name or session does not open.
The wrapper sits on top of any Django storage (``inner``: the alias in ``STORAGES``),
so the local filesystem and the object store both receive only ciphertext.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from django.core.files.base import ContentFile, File
from django.core.files.storage import Storage, storages
from django.urls import reverse
from django.utils.deconstruct import deconstructible
from django.utils.functional import cached_property

from privacy import crypto, keys
from privacy.errors import EncryptionRequired

_SESSION_IN_NAME = re.compile(
    r"^[a-z_]+/(?P<session>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})/"
)


def session_id_from_name(name: str) -> uuid.UUID:
    match = _SESSION_IN_NAME.match(name.replace("\\", "/"))
    if match is None:
        raise EncryptionRequired(
            f"Cannot encrypt {name!r}: encrypted file names must look like "
            "`<area>/<session uuid>/<file>` so the file is bound to its session's key."
        )
    return uuid.UUID(match["session"])


def file_aad(name: str) -> bytes:
    return crypto.record_aad(
        session_id=session_id_from_name(name), record=f"file:{name}", field="content"
    )


@deconstructible(path="privacy.storage.EncryptedStorage")
class EncryptedStorage(Storage):
    def __init__(self, inner: str = "default") -> None:
        self.inner_alias = inner

    @cached_property
    def inner(self) -> Storage:
        return storages[self.inner_alias]

    def _save(self, name: str, content: File) -> str:
        session_id = session_id_from_name(name)
        content.seek(0)
        plaintext = content.read()
        if isinstance(plaintext, str):
            plaintext = plaintext.encode()
        sealed = crypto.seal(
            dek=keys.data_key_for_session(session_id, create=True),
            plaintext=plaintext,
            aad=file_aad(name),
        )
        stored = self.inner.save(name, ContentFile(sealed), max_length=None)
        if stored != name:
            # The inner storage renamed it (a race on the name): the AAD would not match.
            self.inner.delete(stored)
            raise EncryptionRequired(f"{name!r} was taken while saving; save it again.")
        return stored

    def _open(self, name: str, mode: str = "rb") -> File:
        if "w" in mode or "a" in mode:
            raise EncryptionRequired("Encrypted files are written with save(), not open('w').")
        with self.inner.open(name, "rb") as handle:
            sealed = handle.read()
        plaintext = crypto.unseal(
            dek=keys.data_key_for_session(session_id_from_name(name)),
            sealed=sealed,
            aad=file_aad(name),
        )
        return ContentFile(plaintext, name=name)

    def get_available_name(self, name: str, max_length: int | None = None) -> str:
        return self.inner.get_available_name(name, max_length=max_length)

    def delete(self, name: str) -> None:
        self.inner.delete(name)

    def exists(self, name: str) -> bool:
        return self.inner.exists(name)

    def listdir(self, path: str) -> tuple[list[str], list[str]]:
        return self.inner.listdir(path)

    def size(self, name: str) -> int:
        return self.inner.size(name)

    def url(self, name: str | None) -> str:
        # Never the object store's URL: reading goes through an authorized, audited view.
        return reverse("privacy:file", kwargs={"name": name})

    def path(self, name: str) -> str:
        raise NotImplementedError("Encrypted files have no plaintext path; use open().")

    def get_modified_time(self, name: str) -> Any:
        return self.inner.get_modified_time(name)

    def get_created_time(self, name: str) -> Any:
        return self.inner.get_created_time(name)

    def get_accessed_time(self, name: str) -> Any:
        return self.inner.get_accessed_time(name)


def evidence_storage() -> Storage:
    """Storage of evidence images and retained originals (``STORAGES["evidence"]``)."""
    return storages["evidence"]


def delete_session_files(session_id: uuid.UUID | str, *, areas: tuple[str, ...]) -> int:
    """Delete every stored object of one session in ``areas``. Returns how many."""
    storage = evidence_storage()
    deleted = 0
    for area in areas:
        prefix = f"{area}/{session_id}"
        try:
            _dirs, files = storage.listdir(prefix)
        except FileNotFoundError:
            continue
        for filename in files:
            storage.delete(f"{prefix}/{filename}")
            deleted += 1
    return deleted


def evidence_upload_to(instance: Any, filename: str) -> str:
    """``evidence/<session>/<random>.bin``: random, so the name says nothing about content."""
    return f"evidence/{instance.session_id}/{uuid.uuid4().hex}.bin"
