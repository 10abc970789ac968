"""Admin for data keys, and the mixin that shows encrypted fields decrypted (and audited)
only on a record's detail page."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html

from exams.admin import CourseScopedAdmin
from privacy import services
from privacy.errors import PrivacyError
from privacy.fields import EncryptedField
from privacy.models import SessionKey


class EncryptedFieldsAdminMixin:
    """Encrypted fields: never in lists, read-only, decrypted only on the detail page.

    The detail page shows one "Decrypted (audited)" row. Rendering it calls
    ``services.record_reveal``: users not allowed on the course see "hidden", everyone
    else's viewing is written to the audit trail.
    """

    def _encrypted_names(self) -> list[str]:
        return [f.name for f in self.model._meta.fields if isinstance(f, EncryptedField)]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[Any]:
        hidden = set(self._encrypted_names())
        fields = [f for f in super().get_readonly_fields(request, obj) if f not in hidden]
        if obj is None or not hidden:
            return fields

        def decrypted(record: Any) -> str:
            try:
                values = services.record_reveal(
                    actor=request.user, record=record, fields=sorted(hidden),
                    reason="admin detail page",
                )
            except PrivacyError as exc:  # not allowed, or shredded
                return f"hidden ({exc})"
            shown = {name: services.readable(value) for name, value in values.items()}
            return format_html(
                "<pre>{}</pre>", json.dumps(shown, indent=2, sort_keys=True, default=str)
            )

        decrypted.short_description = "Decrypted (each viewing is audited)"
        return [*fields, decrypted]

    def get_exclude(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [*(super().get_exclude(request, obj) or []), *self._encrypted_names()]



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
