"""Admin for sessions, incidents, evidence, decisions and the audit trail: read-only history.

Reviewers must not rewrite what happened: nothing here can be added, changed or deleted
through the admin (decisions are made on the review pages, through services). Rows are
scoped to the courses the user staffs; their decrypted details and evidence images only
to those privacy/access.py allows (EncryptedFieldsAdminMixin), so an instructor reads the
metadata of their courses' incidents here, never what is encrypted.
"""

from __future__ import annotations

from django.contrib import admin

from audit.actions import action_label
from audit.admin_filters import AuditActionFilter
from audit.models import AuditEvent
from exams.admin import CourseScopedAdmin, ReadOnlyHistoryAdmin, RelatedOnly
from exams.models import ExamSession
from monitoring.models import Evidence, Incident
from privacy.admin import EncryptedFieldsAdminMixin
from reviews import permissions
from reviews.admin_actions import (
    dismiss_incidents,
    export_incidents_csv,
    export_sessions_csv,
    mark_reviewable,
    timeline_link,
)
from reviews.models import ReviewDecision


@admin.register(Incident)
class IncidentAdmin(EncryptedFieldsAdminMixin, ReadOnlyHistoryAdmin):
    list_display = ["kind", "severity", "status", "started_at", "ended_at", "score", "session"]
    list_filter = ["status", "kind", "severity", ("session__exam__course", RelatedOnly)]
    search_fields = ["session__student__username", "session__exam__title"]
    date_hierarchy = "started_at"
    list_select_related = ["session__student", "session__exam"]
    actions = [dismiss_incidents, export_incidents_csv]

    def has_review_permission(self, request):
        # Dismissing is a review decision: reviewers of some course only (the action
        # itself narrows the rows to the courses they review).
        return permissions.is_reviewer(request.user)


@admin.register(Evidence)
class EvidenceAdmin(EncryptedFieldsAdminMixin, ReadOnlyHistoryAdmin):
    list_display = ["session", "seq", "captured_at", "incident", "width", "height"]
    list_filter = [("session__exam__course", RelatedOnly)]
    date_hierarchy = "captured_at"
    list_select_related = ["session__student", "session__exam", "incident"]


@admin.register(ReviewDecision)
class ReviewDecisionAdmin(EncryptedFieldsAdminMixin, ReadOnlyHistoryAdmin):
    list_display = ["decision", "reviewer", "incident", "session", "created_at"]
    list_filter = ["decision", ("session__exam__course", RelatedOnly)]
    date_hierarchy = "created_at"
    list_select_related = ["reviewer", "incident", "session__exam"]


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyHistoryAdmin):
    course_path = "course"
    list_display = ["created_at", "action", "what", "actor", "course", "target"]
    list_filter = [AuditActionFilter, ("course", RelatedOnly)]
    search_fields = ["action", "actor__username", "target", "reason"]
    date_hierarchy = "created_at"
    list_select_related = ["actor", "course"]

    @admin.display(description="What happened", ordering="action")
    def what(self, obj: AuditEvent) -> str:
        return action_label(obj.action)


@admin.register(ExamSession)
class ExamSessionAdmin(CourseScopedAdmin):
    """Sessions are history: staff read them here and act through the review pages."""

    course_path = "exam__course"
    list_display = ["student", "exam", "state", "started_at", "ended_at", "review_timeline"]
    list_filter = ["state", ("exam__course", RelatedOnly), ("exam", RelatedOnly)]
    search_fields = ["student__username", "exam__title", "id"]
    date_hierarchy = "created_at"
    list_select_related = ["student", "exam__course"]
    readonly_fields = [f.name for f in ExamSession._meta.fields] + ["review_timeline"]
    actions = [export_sessions_csv]

    @admin.display(description="Review")
    def review_timeline(self, obj):
        return timeline_link(obj)

    def get_queryset(self, request):
        return mark_reviewable(super().get_queryset(request), request.user)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
