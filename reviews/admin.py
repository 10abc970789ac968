"""Admin for incidents, evidence, decisions and the audit trail: read-only history.

Reviewers must not rewrite what happened: nothing here can be added, changed or deleted
through the admin (decisions are made on the review pages, through services). Rows are
scoped to the courses the user staffs.
"""

from __future__ import annotations

from django.contrib import admin

from exams.admin import CourseScopedAdmin, RelatedOnly
from reviews import permissions
from reviews.admin_actions import dismiss_incidents, export_incidents_csv
from reviews.models import AuditEvent, Evidence, Incident, ReviewDecision

# Importing reviews/privacy/admin.py also registers the admins of the data keys and the
# lifecycle records: the admin autodiscovers only <app>.admin.
from reviews.privacy.admin import EncryptedFieldsAdminMixin


class ReadOnlyHistoryAdmin(CourseScopedAdmin):
    course_path = "session__exam__course"

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


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
class EvidenceAdmin(ReadOnlyHistoryAdmin):
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
    list_display = ["created_at", "action", "actor", "course", "target"]
    list_filter = ["action", ("course", RelatedOnly)]
    search_fields = ["action", "actor__username", "target", "reason"]
    date_hierarchy = "created_at"
    list_select_related = ["actor", "course"]


# The integrity log's checkpoints and the evidence spool (reviews/integrity_admin.py).
from reviews import integrity_admin  # noqa: E402, F401
