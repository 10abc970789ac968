"""The Celery application. Workers start with `celery -A proctor_site worker`."""

import os

from celery import Celery
from celery.signals import task_postrun, task_prerun

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "proctor_site.settings")

app = Celery("proctor")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# Autodiscovery imports one `tasks` module per installed app; tasks in sub-packages (the
# API's webhooks in lms/api/) are named here.
app.autodiscover_tasks(["lms.api"])

# Celery's Django fix-up closes every database connection before and after each task unless
# it is told to reuse them, and a new PostgreSQL connection costs more than a frame's
# queries (a backend fork on the server). Reuse them, and let Django decide as it does for a
# request: close_old_connections() honours CONN_MAX_AGE and drops a connection that broke
# (a PostgreSQL restart) so the next task opens a fresh one.
app.conf.CELERY_DB_REUSE_MAX = 1_000_000


@task_prerun.connect
@task_postrun.connect
def _close_old_connections(sender=None, **kwargs):
    from django.db import close_old_connections

    # Eager tasks (the embedded worker thread, tests) run inside their caller's connection
    # handling, as in Celery's own fix-up.
    if not getattr(getattr(sender, "request", None), "is_eager", False):
        close_old_connections()
