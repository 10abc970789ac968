"""The Celery application. Workers start with `celery -A proctor_site worker`."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "proctor_site.settings")

app = Celery("proctor")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# Autodiscovery imports one `tasks` module per installed app; tasks in sub-packages (the
# API's webhooks in exams/api/, the data lifecycle in reviews/privacy/) are named here.
app.autodiscover_tasks(["exams.api", "reviews.privacy"])
