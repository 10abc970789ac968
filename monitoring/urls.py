"""URLs of the monitoring app, mounted under /monitoring/."""

from django.urls import path

from monitoring import views

app_name = "monitoring"

urlpatterns = [
    path("sessions/<uuid:session_id>/ticket/", views.stream_ticket, name="stream_ticket"),
    path("live/", views.live_sessions, name="live"),
]
