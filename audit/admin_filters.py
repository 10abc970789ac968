"""The admin's filter of audit events by action, with the registry's labels.

No ``choices=`` on ``AuditEvent.action`` (that would need a migration for every new
action): the labels come from audit/actions.py when the filter is drawn.
"""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from audit.actions import action_label


class AuditActionFilter(admin.SimpleListFilter):
    """The actions present in the rows the user may see, by label (a stored action the
    registry does not know, from before it, shows as itself)."""

    title = "action"
    parameter_name = "action"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple]:
        present = (
            model_admin.get_queryset(request)
            .order_by()
            .values_list("action", flat=True)
            .distinct()
        )
        return sorted(((value, action_label(value)) for value in present), key=lambda p: p[1])

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        return queryset.filter(action=value) if value else queryset
