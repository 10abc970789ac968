"""Admin actions and columns of the review workspace: bulk dismiss, CSV export, links.

Kept apart from the admin classes so that both exams/admin.py (sessions) and
reviews/admin.py (incidents) can use them without importing each other. Access: the
admin's own scoping (CourseScopedAdmin) limits the rows; dismissing also needs the right
to review the course (reviews/permissions.py), which instructors do not have. The CSV
exports hold metadata only (no decrypted field, no image: see the selectors), so the
course scoping is their whole rule; decrypted content is privacy/access.py's.
"""

from __future__ import annotations

import csv

from django import forms
from django.contrib import admin, messages
from django.db.models import BooleanField, ExpressionWrapper, Q, QuerySet, Value
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from audit import services as audit_services
from monitoring.models import Incident
from reviews import permissions, selectors, services


class BulkDismissForm(forms.Form):
    note = forms.CharField(
        label="Why are these incidents dismissed?",
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Kept with every dismissal in the audit trail.",
    )


def mark_reviewable(sessions: QuerySet, user) -> QuerySet:
    """Annotate ``is_reviewable`` (may this user open the timeline?) in the same query."""
    if user.is_superuser:
        return sessions.annotate(is_reviewable=Value(True))
    return sessions.annotate(
        is_reviewable=ExpressionWrapper(
            Q(exam__course__in=permissions.reviewable_courses(user).values("pk")),
            output_field=BooleanField(),
        )
    )


def timeline_link(session) -> str:
    """A link to the session's timeline for those who may review it, else a dash."""
    if not getattr(session, "is_reviewable", False):
        return "—"
    return format_html(
        '<a href="{}">Open the review timeline</a>',
        reverse("reviews:timeline", args=[session.pk]),
    )


@admin.action(description="Dismiss selected incidents (with a note)", permissions=["review"])
def dismiss_incidents(modeladmin, request: HttpRequest, queryset: QuerySet[Incident]):
    """Ask for a note, then dismiss every selected pending incident the user may judge."""
    queryset = queryset.filter(session__in=permissions.reviewable_sessions(request.user))
    form = BulkDismissForm(request.POST if "apply" in request.POST else None)
    if form.is_bound and form.is_valid():
        count = services.incidents_bulk_dismiss(
            incidents=queryset.select_related("session__exam__course"),
            reviewer=request.user,
            note=form.cleaned_data["note"],
        )
        skipped = queryset.count() - count
        modeladmin.message_user(
            request,
            f"Dismissed {count} incident{'s' if count != 1 else ''}; {skipped} skipped "
            "(already decided or the review is closed).",
            messages.SUCCESS,
        )
        return None
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": "Dismiss incidents",
        "form": form,
        "incidents": queryset.select_related("session__student", "session__exam")[:200],
        "count": queryset.count(),
        "selected": request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME),
        "action": "dismiss_incidents",
        "opts": modeladmin.model._meta,
    }
    return TemplateResponse(request, "admin/reviews/dismiss_incidents.html", context)


def _csv_response(name: str, header: list[str], rows) -> HttpResponse:
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}-{stamp}.csv"'
    writer = csv.writer(response)
    writer.writerow(header)
    for row in rows:
        # Spreadsheet formula injection: a cell starting with = + - @ is read as a
        # formula by Excel and friends; prefix such text with a quote.
        writer.writerow(
            [f"'{v}" if isinstance(v, str) and v and v[0] in "=+-@" else v for v in row]
        )
    return response


@admin.action(description="Export selected incidents as CSV")
def export_incidents_csv(modeladmin, request: HttpRequest, queryset: QuerySet[Incident]):
    header, rows = selectors.incident_export_rows(incidents=queryset)
    audit_services.export_record(actor=request.user, what="incidents", count=len(rows))
    return _csv_response("incidents", header, rows)


@admin.action(description="Export review summary of selected sessions as CSV")
def export_sessions_csv(modeladmin, request: HttpRequest, queryset):
    header, rows = selectors.session_export_rows(sessions=queryset)
    audit_services.export_record(actor=request.user, what="sessions", count=len(rows))
    return _csv_response("sessions", header, rows)
