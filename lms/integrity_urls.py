"""URLs of the tamper-evident log, included under /api/v1/integrity/."""

from django.urls import path

from lms import integrity_views

app_name = "integrity"

urlpatterns = [
    path("checkpoint", integrity_views.checkpoint_latest, name="checkpoint"),
    path("consistency", integrity_views.consistency_proof, name="consistency"),
    path(
        "sessions/<uuid:session_id>/proof", integrity_views.session_proof, name="session_proof"
    ),
]
