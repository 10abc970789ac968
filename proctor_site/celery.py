"""The Celery application. Workers start with `celery -A proctor_site worker`."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "proctor_site.settings")

app = Celery("proctor")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# Autodiscovery imports one `tasks` module per installed app; the data lifecycle's tasks
# live in the reviews app's sub-package reviews/privacy/, which it would not find.
app.autodiscover_tasks(["reviews.privacy"])
