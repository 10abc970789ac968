"""Admin for LTI registrations: institution admins register their LMSs here.

The tool's key pair is generated on first save (and by the "rotate" action); the private
key never appears in a form.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from lms.api.admin import InstitutionScopedAdmin
from lms.lti.services import lti_registration_generate_keys
from lms.lti.views import launch_url
from lms.models import LtiRegistration


@admin.register(LtiRegistration)
class LtiRegistrationAdmin(InstitutionScopedAdmin):
    list_display = ["name", "institution", "issuer", "client_id", "is_active"]
    list_filter = ["is_active", "institution"]
    fields = [
        "institution", "name", "issuer", "client_id", "deployment_ids", "auth_login_url",
        "auth_token_url", "auth_audience", "key_set_url", "is_active", "tool_endpoints",
        "tool_key_id", "tool_public_key",
    ]
    readonly_fields = ["tool_endpoints", "tool_key_id", "tool_public_key"]
    actions = ["rotate_keys"]

    @admin.display(description="Enter these in the LMS")
    def tool_endpoints(self, obj: LtiRegistration) -> str:
        from django.conf import settings
        from django.urls import reverse

        site = settings.SITE_URL.rstrip("/")
        return format_html(
            "Login initiation URL: {}<br>Redirect / launch URL: {}<br>"
            "Deep linking URL: {}<br>Public keyset (JWKS) URL: {}",
            site + reverse("lti:login"), launch_url(), launch_url(), site + reverse("lti:jwks"),
        )

    def save_model(
        self, request: HttpRequest, obj: LtiRegistration, form: Any, change: bool
    ) -> None:
        super().save_model(request, obj, form, change)
        if not obj.tool_private_key:
            lti_registration_generate_keys(registration=obj)

    @admin.action(description="Rotate the tool's key pair (update the LMS if it pins keys)")
    def rotate_keys(self, request: HttpRequest, queryset: QuerySet[LtiRegistration]) -> None:
        for registration in queryset:
            lti_registration_generate_keys(registration=registration)
        messages.success(request, f"New key pairs for {queryset.count()} registration(s).")
