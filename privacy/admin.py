"""Admin for data keys, and the mixin that shows encrypted fields and files decrypted (and
audited) only on a record's detail page, only to those the one rule allows."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin
from django.db import models
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from exams.admin import CourseScopedAdmin
from privacy import access, services
from privacy.errors import PrivacyError
from privacy.fields import EncryptedField
from privacy.models import SessionKey
from privacy.storage import EncryptedStorage


class EncryptedFieldsAdminMixin:
    """Encrypted fields and files: never in lists, never editable, and on a record's detail
    page shown only to those who may read its session's decrypted content
    (privacy/access.py).

    For them the page has one "Decrypted (audited)" row, rendered through
    ``services.record_reveal`` (each viewing is written to the audit trail), and a link to
    each encrypted file through the audited file view. Everyone else who may see the
    record at all (instructors: the course scoping of CourseScopedAdmin) sees its
    metadata only: no decrypted row, no file name, no link. The model needs a
    ``session``.
    """

    def _encrypted_names(self) -> list[str]:
        return [f.name for f in self.model._meta.fields if isinstance(f, EncryptedField)]

    def _encrypted_file_names(self) -> list[str]:
        return [
            f.name for f in self.model._meta.fields
            if isinstance(f, models.FileField) and isinstance(f.storage, EncryptedStorage)
        ]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[Any]:
        hidden = set(self._encrypted_names())
        files = self._encrypted_file_names()
        fields = [
            f for f in super().get_readonly_fields(request, obj)
            if f not in hidden and f not in files
        ]
        if obj is None or not access.can_read_decrypted(request.user, obj.session):
            return fields
        if hidden:
            fields.append(self._decrypted_row(request, sorted(hidden)))
        fields.extend(self._file_link(name) for name in files)
        return fields

    def _decrypted_row(self, request: HttpRequest, names: list[str]) -> Any:
        def decrypted(record: Any) -> str:
            try:
                values = services.record_reveal(
                    actor=request.user, record=record, fields=names,
                    reason="admin detail page",
                )
            except PrivacyError as exc:  # shredded (or access withdrawn meanwhile)
                return f"hidden ({exc})"
            shown = {name: services.readable(value) for name, value in values.items()}
            return format_html(
                "<pre>{}</pre>", json.dumps(shown, indent=2, sort_keys=True, default=str)
            )

        decrypted.short_description = "Decrypted (each viewing is audited)"
        return decrypted

    def _file_link(self, name: str) -> Any:
        def link(record: Any) -> str:
            stored = getattr(record, name)
            if not stored:
                return "—"
            return format_html(
                '<a href="{}">Open (each viewing is audited)</a>',
                reverse("privacy:file", kwargs={"name": stored.name}),
            )

        link.short_description = self.model._meta.get_field(name).verbose_name
        return link

    def get_exclude(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [
            *(super().get_exclude(request, obj) or []),
            *self._encrypted_names(),
            *self._encrypted_file_names(),
        ]


@admin.register(SessionKey)
class SessionKeyAdmin(CourseScopedAdmin):
    """Which KEK version wraps each session's key, and which are shredded. Never the key."""

    course_path = "session__exam__course"
    list_display = ["session", "kek_version", "created_at", "rewrapped_at", "shredded_at"]
    list_filter = ["kek_version"]
    fields = ["session", "kek_version", "created_at", "rewrapped_at", "shredded_at"]
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
