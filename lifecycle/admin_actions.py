"""Admin actions other apps' admins attach (kept apart from lifecycle/admin.py to avoid an
import cycle with exams/admin.py)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.http import HttpResponse

from lifecycle import services
from privacy.errors import NotAllowed


@admin.action(description="Export the selected student's data (DSAR zip, audited)")
def export_student_data(modeladmin, request, queryset):
    """On enrolments: one selected row → that student's decrypted data export."""
    if queryset.count() != 1:
        messages.error(request, "Select exactly one enrolment to export its student's data.")
        return None
    student = queryset.get().student
    try:
        data = services.student_data_export(student=student, actor=request.user)
    except NotAllowed:
        messages.error(request, "You may not export this student's data.")
        return None
    response = HttpResponse(data, content_type="application/zip")
    response["Content-Disposition"] = (
        f'attachment; filename="proctor-data-{student.pk}.zip"'
    )
    response["Cache-Control"] = "private, no-store"
    return response
