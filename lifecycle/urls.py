"""URLs of encrypted files and a student's own data, mounted under /privacy/."""

from django.urls import path

from lifecycle import views

app_name = "privacy"

urlpatterns = [
    path("files/<path:name>", views.file_view, name="file"),
    path("my-data/", views.my_data, name="my_data"),
    path("my-data/export/", views.my_data_export, name="my_data_export"),
    path("my-data/erase/", views.my_erasure_request, name="my_erasure_request"),
]
