"""Streaming tests: let the embedded worker thread finish before the database is reset."""

import pytest


@pytest.fixture(autouse=True)
def _embedded_worker_idle():
    yield
    from monitoring import tasks

    tasks.wait_embedded_idle()
