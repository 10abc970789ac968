"""Operators' read-only views of stream receipts (to find and inspect quarantined
messages) and of the evidence spool's backlog.

Receipts hold no frame data (sequence numbers, times, delivery counts and the failure
reason only). Only superusers see them: they are operations data, not review material.
Spooled frames are scoped to the courses the user staffs, like the rest of the history.
"""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from exams.admin import ReadOnlyHistoryAdmin
from monitoring.models import Receipt, SpooledEvidence


class QuarantinedFilter(admin.SimpleListFilter):
    title = "quarantined"
    parameter_name = "quarantined"

    def lookups(self, request, model_admin):
        return [("yes", "Quarantined"), ("no", "Not quarantined")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(failed_at__isnull=False)
        if self.value() == "no":
            return queryset.filter(failed_at__isnull=True)
        return queryset


@admin.register(Receipt)
class ReceiptAdmin(admin.ModelAdmin):
    list_display = ["session", "stream", "seq", "received_at", "processed_at", "deliveries",
                    "failed_at"]
    list_filter = [QuarantinedFilter, "stream"]
    search_fields = ["=session__id"]
    list_select_related = ["session__student", "session__exam"]
    readonly_fields = [f.name for f in Receipt._meta.fields]

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(SpooledEvidence)
class SpooledEvidenceAdmin(ReadOnlyHistoryAdmin):
    list_display = ["session", "seq", "captured_at", "attempts", "last_error", "created_at"]
    list_select_related = ["session__exam"]
    exclude = ["spool_file"]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields if f.name != "spool_file"]
