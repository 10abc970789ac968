"""Admin for shred records, erasure requests and break-glass grants.

Lifecycle steps are taken through admin actions that call lifecycle.services, so the same
permission checks and audit entries apply as everywhere else.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import reverse

from exams import admin as exams_admin
from exams.admin import CourseScopedAdmin
from exams.models import Enrollment
from lifecycle import services
from lifecycle.admin_actions import export_student_data
from lifecycle.models import BreakGlassGrant, ErasureRequest, ShredRecord
from privacy.errors import PrivacyError


class _CreatedByService:
    """Add forms whose save calls a service: the created row replaces the form's object,
    and a refusal (shown as an error message) goes back to the list. Rows are never
    changed or deleted here; only ``editable_on_add`` fields can be filled, once."""

    editable_on_add: frozenset[str] = frozenset()

    def create_through_service(self, request, obj):
        raise NotImplementedError

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return [f for f in self.fields if f not in self.editable_on_add]
        return self.fields

    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        try:
            created = self.create_through_service(request, obj)
        except PrivacyError as exc:
            messages.error(request, str(exc))
            return
        obj.pk = created.pk
        obj.refresh_from_db()

    def log_addition(self, request, obj, message):
        if obj.pk is not None:
            return super().log_addition(request, obj, message)
        return None

    def response_add(self, request, obj, post_url_continue=None):
        if obj.pk is None:
            return HttpResponseRedirect(
                reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_changelist")
            )
        return super().response_add(request, obj, post_url_continue)


class _ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ShredRecord)
class ShredRecordAdmin(_ReadOnly, CourseScopedAdmin):
    course_path = "exam__course"
    list_display = ["session_ref", "exam", "cause", "objects_deleted", "shredded_at"]
    list_filter = ["cause"]
    readonly_fields = [f.name for f in ShredRecord._meta.fields]


def _run(request: HttpRequest, queryset: QuerySet, call, done: str) -> None:
    ok = 0
    for obj in queryset:
        try:
            call(obj)
            ok += 1
        except PrivacyError as exc:
            messages.error(request, f"{obj}: {exc}")
    if ok:
        messages.success(request, f"{done}: {ok}.")


@admin.register(ErasureRequest)
class ErasureRequestAdmin(_CreatedByService, admin.ModelAdmin):
    """Requested here (or by the student); an admin of the institution approves or rejects
    with the actions. Approving shreds every session of the student there."""

    list_display = ["student", "institution", "status", "requested_at", "decided_by",
                    "sessions_shredded"]
    list_filter = ["status"]
    fields = ["student", "institution", "status", "requested_by", "requested_at",
              "decided_by", "decided_at", "decision_note", "sessions_shredded"]
    autocomplete_fields = ["student"]
    actions = ["approve", "reject"]

    def get_queryset(self, request):
        qs = super().get_queryset(request).select_related("student", "institution")
        if request.user.is_superuser:
            return qs
        return qs.filter(institution__members__user=request.user)

    editable_on_add = frozenset({"student", "institution"})

    def create_through_service(self, request, obj):
        return services.erasure_request(
            student=obj.student, institution=obj.institution, actor=request.user
        )

    @admin.action(description="Approve and shred the selected requests")
    def approve(self, request, queryset):
        _run(request, queryset,
             lambda r: services.erasure_decide(request=r, actor=request.user, approve=True),
             "Approved and shredded")

    @admin.action(description="Reject the selected requests")
    def reject(self, request, queryset):
        _run(request, queryset,
             lambda r: services.erasure_decide(request=r, actor=request.user, approve=False),
             "Rejected")


@admin.register(BreakGlassGrant)
class BreakGlassGrantAdmin(_CreatedByService, CourseScopedAdmin):
    """Staff ask here (with a reason) to see a session's original frames; an admin of the
    institution, not the requester, approves. Grants expire on their own."""

    course_path = "session__exam__course"
    list_display = ["session", "requested_by", "status", "requested_at", "approved_by",
                    "expires_at"]
    list_filter = ["status"]
    fields = ["session", "reason", "requested_by", "requested_at", "status", "approved_by",
              "decided_at", "expires_at"]
    raw_id_fields = ["session"]
    actions = ["approve", "reject"]

    editable_on_add = frozenset({"session", "reason"})

    def create_through_service(self, request, obj):
        return services.break_glass_request(
            session=obj.session, actor=request.user, reason=obj.reason
        )

    @admin.action(description="Approve the selected grants (as second approver)")
    def approve(self, request, queryset):
        _run(request, queryset,
             lambda g: services.break_glass_approve(grant=g, actor=request.user), "Approved")

    @admin.action(description="Reject the selected grants")
    def reject(self, request, queryset):
        _run(request, queryset,
             lambda g: services.break_glass_reject(grant=g, actor=request.user), "Rejected")


# A student's data export is offered where staff find students: the enrolment list. The
# exams app sits below this one, so the action is added here, to its admin.
class EnrollmentAdmin(exams_admin.EnrollmentAdmin):
    actions = [*(exams_admin.EnrollmentAdmin.actions or []), export_student_data]


admin.site.unregister(Enrollment)
admin.site.register(Enrollment, EnrollmentAdmin)
