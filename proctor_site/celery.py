"""The Celery application. Workers start with `celery -A proctor_site worker`."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "proctor_site.settings")

app = Celery("proctor")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# Tasks that live below an app's top level (autodiscovery looks only at <app>.tasks).
app.autodiscover_tasks(["exams.api"])
