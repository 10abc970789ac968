"""Review workspace (reviewers) and the student's report of their own session."""

from django.urls import path

from reviews import views

app_name = "reviews"

urlpatterns = [
    path("", views.queue, name="queue"),
    path("sessions/<uuid:session_id>/", views.timeline, name="timeline"),
    path("sessions/<uuid:session_id>/close/", views.review_close, name="close"),
    path("incidents/<int:incident_id>/decide/", views.incident_decide, name="decide"),
    path("evidence/<int:evidence_id>/image/", views.evidence_image, name="evidence_image"),
    path("mine/", views.student_sessions, name="student_sessions"),
    path("mine/<uuid:session_id>/", views.student_report, name="student_report"),
]
