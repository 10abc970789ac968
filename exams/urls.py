"""Student pages."""

from django.urls import path

from exams import views

app_name = "exams"

urlpatterns = [
    path("", views.my_exams, name="my_exams"),
    path("<int:exam_id>/begin/", views.exam_begin, name="begin"),
    path("sessions/<uuid:session_id>/consent/", views.consent, name="consent"),
    path("sessions/<uuid:session_id>/camera/", views.camera_check, name="camera_check"),
    path("sessions/<uuid:session_id>/", views.session_detail, name="session"),
    path("sessions/<uuid:session_id>/submit/", views.session_submit, name="submit"),
    path("sessions/<uuid:session_id>/finished/", views.finished, name="finished"),
]
