"""Streaming tests: let the embedded worker thread finish before the database is reset."""

import pytest


@pytest.fixture(autouse=True)
def _embedded_worker_idle():
    yield
    from monitoring import tasks

    tasks.wait_embedded_idle()


@pytest.fixture(autouse=True)
def _embedded_mode(settings):
    # These tests drive the consumer in-process: run tasks on the embedded worker thread
    # and use the in-memory channel layer even when REDIS_URL is set for the run.
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
