"""The Celery app: a worker knows every task that the beat schedule sends."""

from __future__ import annotations

import os
import subprocess
import sys

from django.conf import settings

# What a worker does on start (`celery -A proctor_site worker`): set Django up, then run
# the autodiscovery of task modules.
_LIST_REGISTERED_TASKS = """
import django
django.setup()
from proctor_site.celery import app
app.loader.import_default_modules()
print("\\n".join(sorted(app.tasks)))
"""


def test_worker_registers_every_task_the_beat_schedule_sends():
    # A fresh process: in this one, other tests have already imported the task modules,
    # which would hide one that autodiscovery does not find (beat would then send a task
    # no worker runs, e.g. retention would silently never shred anything).
    result = subprocess.run(  # noqa: S603  (our own interpreter, a fixed script)
        [sys.executable, "-c", _LIST_REGISTERED_TASKS],
        capture_output=True, text=True, timeout=120, cwd=settings.BASE_DIR,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "proctor_site.settings"},
    )
    assert result.returncode == 0, result.stderr
    registered = set(result.stdout.split())
    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert scheduled, "the beat schedule is empty"
    assert scheduled <= registered, f"not registered: {sorted(scheduled - registered)}"
