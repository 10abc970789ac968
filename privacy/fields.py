"""Model fields whose column holds AES-256-GCM ciphertext and whose attribute holds plaintext.

    payload = EncryptedJSONField(session_field="session", record_field="uid")

Callers read and write plain values; the field seals them under the row's session data
key on save, bound to (session, model, row uid, field name), and opens them lazily on first
attribute access. Consequences worth knowing:

* ``QuerySet.values()`` and ``values_list()`` return the sealed ``Ciphertext``, never
  plaintext, and ``filter(payload=...)`` or ``update(payload=...)`` with a plain value raise
  EncryptionRequired: an encrypted column cannot be queried. Keep what must be queried in
  plain columns. ``bulk_update`` of an encrypted field raises too; ``bulk_create`` works.
* The empty value (``""``, ``{}``, ``b""``) is stored as an empty column without a key, and
  shredding empties columns, so a shredded row reads as empty.
* Reading a value that was copied from another row, field or session raises
  DecryptionFailed; reading one of a shredded session raises SessionShredded.
* Decrypting here is for code. Showing plaintext to a person goes through
  ``privacy.services.record_reveal`` (privacy/access.py's rule plus an audit entry).
"""

from __future__ import annotations

import base64
import json
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models.query_utils import DeferredAttribute

from privacy import crypto, keys
from privacy.errors import EncryptionRequired


class Ciphertext(bytes):
    """Sealed bytes as stored; its repr never shows content."""

    def __repr__(self) -> str:
        return f"<Ciphertext {len(self)} bytes>"


class _DecryptingAttribute(DeferredAttribute):
    """A data descriptor (unlike DeferredAttribute), so reads always pass through it."""

    def __set__(self, instance: Any, value: Any) -> None:
        instance.__dict__[self.field.attname] = value

    def __get__(self, instance: Any, cls: Any = None) -> Any:
        if instance is None:
            return self
        value = super().__get__(instance, cls)
        if isinstance(value, Ciphertext):
            value = self.field.decrypt(instance, value)
            instance.__dict__[self.field.attname] = value
        return value


class EncryptedField(models.BinaryField):
    """Base class; subclasses say how a plaintext value becomes bytes and back."""

    descriptor_class = _DecryptingAttribute

    def __init__(
        self, *args: Any, session_field: str = "session", record_field: str = "uid",
        aad_label: str = "", **kwargs: Any,
    ) -> None:
        self.session_field = session_field
        self.record_field = record_field
        # The model label bound into the associated data. It defaults to the model's own
        # label; a model moved to another app names the label its ciphertexts were sealed
        # under, since changing it would make every existing value unreadable.
        self.aad_label = aad_label
        kwargs.setdefault("default", self.empty_value)
        kwargs.setdefault("blank", True)
        super().__init__(*args, **kwargs)

    # What subclasses define.
    @staticmethod
    def empty_value() -> Any:
        return b""

    def encode(self, value: Any) -> bytes:
        return bytes(value)

    def decode(self, data: bytes) -> Any:
        return data

    def is_empty(self, value: Any) -> bool:
        return value in (b"", "", None) or value == {} or value == []

    # Django plumbing.
    def deconstruct(self) -> tuple[str, str, list[Any], dict[str, Any]]:
        name, path, args, kwargs = super().deconstruct()
        if self.session_field != "session":
            kwargs["session_field"] = self.session_field
        if self.record_field != "uid":
            kwargs["record_field"] = self.record_field
        if self.aad_label:
            kwargs["aad_label"] = self.aad_label
        kwargs.pop("editable", None)
        if kwargs.get("default") is self.empty_value:
            del kwargs["default"]
        if kwargs.get("blank") is True:
            del kwargs["blank"]
        return name, path, args, kwargs

    def aad_for(self, instance: Any) -> tuple[str, bytes]:
        session_id = getattr(instance, f"{self.session_field}_id")
        record = getattr(instance, self.record_field)
        if session_id is None or record is None:
            raise EncryptionRequired(
                f"{instance._meta.label}.{self.name} needs its {self.session_field} and "
                f"{self.record_field} set before it can be encrypted."
            )
        label = self.aad_label or instance._meta.label_lower
        aad = crypto.record_aad(
            session_id=session_id, record=f"{label}:{record}", field=self.name
        )
        return str(session_id), aad

    def encrypt(self, instance: Any, value: Any) -> Ciphertext:
        if self.is_empty(value):
            return Ciphertext(b"")
        session_id, aad = self.aad_for(instance)
        dek = keys.data_key_for_session(session_id, create=True)
        return Ciphertext(crypto.seal(dek=dek, plaintext=self.encode(value), aad=aad))

    def decrypt(self, instance: Any, sealed: Ciphertext) -> Any:
        if not sealed:
            return self.empty_value()
        session_id, aad = self.aad_for(instance)
        dek = keys.data_key_for_session(session_id)
        return self.decode(crypto.unseal(dek=dek, sealed=bytes(sealed), aad=aad))

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        if value is None:
            return None
        value = bytes(value)
        return Ciphertext(value) if value else self.empty_value()

    def pre_save(self, model_instance: Any, add: bool) -> Any:
        value = model_instance.__dict__.get(self.attname)
        if value is None or isinstance(value, Ciphertext):
            return value
        return self.encrypt(model_instance, value)

    def get_db_prep_value(self, value: Any, connection: Any, prepared: bool = False) -> Any:
        if value is None:
            return None
        if not isinstance(value, Ciphertext):
            if not self.is_empty(value):
                raise EncryptionRequired(
                    f"{self.model._meta.label}.{self.name} is encrypted: it cannot be filtered "
                    "on or set with QuerySet.update(); assign it and call save()."
                )
            value = b""
        return connection.Database.Binary(bytes(value))

    def value_to_string(self, obj: Any) -> str:
        # Serializers (dumpdata) get the ciphertext, never the plaintext.
        value = obj.__dict__.get(self.attname)
        if not isinstance(value, Ciphertext):
            value = self.encrypt(obj, value)
        return base64.b64encode(value).decode("ascii")

    def to_python(self, value: Any) -> Any:
        if isinstance(value, str):  # as written by value_to_string
            return Ciphertext(base64.b64decode(value.encode("ascii")))
        return value


class EncryptedBinaryField(EncryptedField):
    pass


class EncryptedTextField(EncryptedField):
    @staticmethod
    def empty_value() -> str:
        return ""

    def encode(self, value: Any) -> bytes:
        return str(value).encode("utf-8")

    def decode(self, data: bytes) -> str:
        return data.decode("utf-8")


class EncryptedJSONField(EncryptedField):
    @staticmethod
    def empty_value() -> dict:
        return {}

    def encode(self, value: Any) -> bytes:
        if isinstance(value, bytes | bytearray | memoryview):
            raise EncryptionRequired(
                f"{self.model._meta.label}.{self.name} takes a JSON value (a dict), "
                f"not {type(value).__name__}; pass the dict itself."
            )
        return json.dumps(value, cls=DjangoJSONEncoder, separators=(",", ":")).encode()

    def decode(self, data: bytes) -> Any:
        return json.loads(data)
