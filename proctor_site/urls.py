"""Top-level URL configuration."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("review/", include("reviews.urls")),
    path("admin/", admin.site.urls),
]
