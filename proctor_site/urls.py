"""Top-level URL configuration."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView

from proctor_site import health

admin.site.site_header = "Proctor administration"
admin.site.site_title = "Proctor"

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="exams:my_exams", permanent=False)),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("exams/", include("exams.urls")),
    path("review/", include("reviews.urls")),
    path("admin/", admin.site.urls),
    path("monitoring/", include("monitoring.urls")),
    path("privacy/", include("lifecycle.urls")),
    # /api/v1/integrity/ first: the LMS API's router below has no catch-all, but a more
    # specific prefix before a general one keeps that true whatever it gains.
    path("api/v1/integrity/", include("lms.integrity_urls")),
    path("api/v1/", include("lms.api.urls")),
    path("lti/", include("lms.lti.urls")),
]
