"""/lti/: the LTI 1.3 tool's endpoints (docs/lti.md lists what to enter in the LMS)."""

from django.urls import path

from lms.lti import views

app_name = "lti"

urlpatterns = [
    path("login/", views.oidc_login, name="login"),
    path("launch/", views.launch, name="launch"),
    path("deep-link/", views.deep_link, name="deep_link"),
    path("jwks/", views.jwks, name="jwks"),
]
