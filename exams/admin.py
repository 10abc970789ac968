"""Admin for institutions, courses, exams and enrolments, scoped per course.

Which rows a staff member sees is decided by exams/permissions.py; the role groups
(exams/roles.py) decide which kinds of record they may view or change at all.
"""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from exams import permissions
from exams.models import (
    Course,
    CourseStaff,
    Enrollment,
    Exam,
    Institution,
    InstitutionMembership,
)

# Filter choices drawn from the scoped rows only, so no foreign course or exam name leaks.
RelatedOnly = admin.RelatedOnlyFieldListFilter


class CourseScopedAdmin(admin.ModelAdmin):
    """Shows only rows of courses the user staffs; ``course_path`` leads to the course."""

    course_path = "course"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return permissions.scope_courses(
            super().get_queryset(request), request.user, path=self.course_path
        )

    def _in_scope(self, request: HttpRequest, obj) -> bool:
        return obj is None or self.get_queryset(request).filter(pk=obj.pk).exists()

    def has_view_permission(self, request, obj=None):
        return super().has_view_permission(request, obj) and self._in_scope(request, obj)

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and self._in_scope(request, obj)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and self._in_scope(request, obj)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        # Offer only the courses and exams the user works on.
        if db_field.related_model is Course:
            kwargs["queryset"] = permissions.courses_for_staff(request.user)
        elif db_field.related_model is Exam:
            kwargs["queryset"] = permissions.scope_exams(Exam.objects.all(), request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class InstitutionMembershipInline(admin.TabularInline):
    model = InstitutionMembership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Institution)
class InstitutionAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "created_at"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [InstitutionMembershipInline]

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        if request.user.is_superuser:
            return qs
        return qs.filter(members__user=request.user)


class CourseStaffInline(admin.TabularInline):
    model = CourseStaff
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Course)
class CourseAdmin(CourseScopedAdmin):
    course_path = ""
    list_display = ["code", "title", "institution", "created_at"]
    list_filter = [("institution", RelatedOnly)]
    search_fields = ["code", "title"]
    inlines = [CourseStaffInline]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "institution" and not request.user.is_superuser:
            kwargs["queryset"] = Institution.objects.filter(members__user=request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(CourseStaff)
class CourseStaffAdmin(CourseScopedAdmin):
    list_display = ["user", "role", "course"]
    list_filter = ["role", ("course", RelatedOnly)]
    search_fields = ["user__username", "course__code"]
    autocomplete_fields = ["user"]


@admin.register(Exam)
class ExamAdmin(CourseScopedAdmin):
    list_display = ["title", "course", "opens_at", "closes_at", "duration_min",
                    "anonymization_method", "frame_rate_fps"]
    list_filter = [("course", RelatedOnly), "anonymization_method"]
    search_fields = ["title", "course__code", "course__title"]
    date_hierarchy = "opens_at"
    fieldsets = [
        (None, {"fields": ["course", "title", "instructions"]}),
        ("Time", {"fields": ["opens_at", "closes_at", "duration_min"]}),
        ("Anonymization", {"fields": ["anonymization_method", "anonymization_strength",
                                      "blur_frame_when_no_face"]}),
        ("Checks and thresholds", {"fields": [
            "enabled_checks", "frame_rate_fps", "no_face_min_s", "multiple_faces_min_s",
            "looking_away_yaw_deg", "looking_away_pitch_deg", "looking_away_gaze",
            "looking_away_min_s", "camera_blocked_min_s", "camera_frozen_min_s",
            "speech_min_s"]}),
        ("Review", {"fields": ["suspicion_weights"]}),
        ("Data protection", {"fields": ["retention_days", "keep_originals_days"]}),
    ]


@admin.register(Enrollment)
class EnrollmentAdmin(CourseScopedAdmin):
    list_display = ["student", "course", "extra_time_min", "external_id", "created_at"]
    list_filter = [("course", RelatedOnly)]
    search_fields = ["student__username", "student__email", "external_id"]
    autocomplete_fields = ["student"]


class ReadOnlyHistoryAdmin(CourseScopedAdmin):
    """History reached through a session: listed and read, never added, changed or deleted."""

    course_path = "session__exam__course"

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
