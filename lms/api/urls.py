"""/api/v1/: the LMS REST API, its OpenAPI schema and its locally served documentation.

Other apps add their own endpoints under this prefix (e.g. /api/v1/integrity/, on its own
branch) by including their URLs in proctor_site/urls.py before this module.
"""

from django.urls import include, path
from drf_spectacular.views import (
    SpectacularAPIView,
    SpectacularRedocView,
    SpectacularSwaggerSplitView,
)
from rest_framework.permissions import AllowAny
from rest_framework.routers import DefaultRouter

from lms.api import views

app_name = "api"

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("courses", views.CourseViewSet, basename="course")
router.register("exams", views.ExamViewSet, basename="exam")
router.register("sessions", views.SessionViewSet, basename="session")
router.register("incidents", views.IncidentViewSet, basename="incident")
router.register("review-decisions", views.ReviewDecisionViewSet, basename="review-decision")

# The schema and docs describe the API, not anyone's data, so they are public.
urlpatterns = [
    path(
        "schema/",
        SpectacularAPIView.as_view(permission_classes=[AllowAny], authentication_classes=[]),
        name="schema",
    ),
    path(
        "docs/",
        # The split view serves its start-up script as a file: no inline <script>.
        SpectacularSwaggerSplitView.as_view(
            url_name="api:schema", permission_classes=[AllowAny], authentication_classes=[]
        ),
        name="swagger-ui",
    ),
    path(
        "redoc/",
        SpectacularRedocView.as_view(
            url_name="api:schema", permission_classes=[AllowAny], authentication_classes=[]
        ),
        name="redoc",
    ),
    path("", include(router.urls)),
]
