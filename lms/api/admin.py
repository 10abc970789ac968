"""Admin for API keys and webhooks: institution admins manage their institution's own.

Keys are created here or with `manage.py create_api_key`; the key is shown once, in the
message after saving. Keys are never edited, only revoked (an admin action).
"""

from __future__ import annotations

import secrets
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest

from lms import permissions
from lms.api.errors import WebhookHostUnresolved, WebhookUrlRefused
from lms.api.services import api_key_create, api_key_revoke
from lms.api.webhook_targets import webhook_url_check
from lms.models import ApiKey, WebhookDelivery, WebhookEndpoint


class InstitutionScopedAdmin(admin.ModelAdmin):
    """Only superusers and the institution's admins see or touch these rows."""

    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        qs = super().get_queryset(request)
        return qs.filter(
            institution__in=permissions.institutions_administered(request.user)
        )

    def _allowed(self, request: HttpRequest, obj: object = None) -> bool:
        if not permissions.is_institution_admin(request.user):
            return False
        return obj is None or self.get_queryset(request).filter(pk=obj.pk).exists()  # type: ignore[attr-defined]

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self._allowed(request)

    def has_view_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return self._allowed(request, obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self._allowed(request)

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return self._allowed(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return self._allowed(request, obj)

    def formfield_for_foreignkey(
        self, db_field: models.ForeignKey, request: HttpRequest, **kwargs: Any
    ) -> Any:
        if db_field.name == "institution":
            kwargs["queryset"] = permissions.institutions_administered(request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class ApiKeyForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        choices=ApiKey.Scope.choices, widget=forms.CheckboxSelectMultiple, initial=["read"]
    )

    class Meta:
        model = ApiKey
        fields = ["institution", "name", "scopes"]


@admin.register(ApiKey)
class ApiKeyAdmin(InstitutionScopedAdmin):
    form = ApiKeyForm
    list_display = ["name", "institution", "prefix", "scopes", "last_used_at", "revoked_at"]
    list_filter = ["institution"]
    fields = ["institution", "name", "scopes", "prefix", "created_at", "last_used_at",
              "revoked_at"]
    readonly_fields = ["prefix", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke"]

    def get_readonly_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> list[str]:
        if obj is not None:  # a key is never changed, only revoked
            return [*self.readonly_fields, "institution", "name", "scopes"]
        return self.readonly_fields

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False  # revoke instead, so that the audit trail keeps naming the key

    def save_model(self, request: HttpRequest, obj: ApiKey, form: Any, change: bool) -> None:
        if change:
            return
        key, raw_key = api_key_create(
            institution=obj.institution, name=obj.name, scopes=obj.scopes or ["read"],
            created_by=request.user,
        )
        obj.pk = key.pk
        obj.refresh_from_db()
        messages.warning(
            request,
            f"The new API key is {raw_key} — copy it now: it is stored hashed and cannot "
            "be shown again.",
        )

    @admin.action(description="Revoke the selected API keys")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        for key in queryset:
            api_key_revoke(api_key=key, actor=request.user)
        messages.success(request, f"Revoked {queryset.count()} key(s).")


class WebhookEndpointForm(forms.ModelForm):
    url = forms.URLField(max_length=500, assume_scheme="https")

    class Meta:
        model = WebhookEndpoint
        fields = ["institution", "url", "is_active"]

    def clean_url(self) -> str:
        url = self.cleaned_data["url"]
        try:
            # https, no credentials, public addresses only; delivery checks it again.
            webhook_url_check(url=url)
        except (WebhookUrlRefused, WebhookHostUnresolved) as exc:
            raise forms.ValidationError(str(exc)) from exc
        return url


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(InstitutionScopedAdmin):
    form = WebhookEndpointForm
    list_display = ["institution", "url", "is_active"]
    readonly_fields = ["secret", "created_at"]

    def save_model(
        self, request: HttpRequest, obj: WebhookEndpoint, form: Any, change: bool
    ) -> None:
        if not obj.secret:
            obj.secret = secrets.token_urlsafe(32)
        super().save_model(request, obj, form, change)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = ["event", "endpoint", "status", "attempts", "last_status_code", "created_at"]
    list_filter = ["status", "event"]
    readonly_fields = [f.name for f in WebhookDelivery._meta.fields]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).filter(
            endpoint__institution__in=permissions.institutions_administered(request.user)
        )

    def has_module_permission(self, request: HttpRequest) -> bool:
        return permissions.is_institution_admin(request.user)

    def has_view_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return permissions.is_institution_admin(request.user)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
