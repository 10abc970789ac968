"""The REST API on the real PostgreSQL and Redis: scoping, sync locking and throttling."""

from __future__ import annotations

import pytest

from exams.models import Enrollment
from tests.api.conftest import key_client

pytestmark = pytest.mark.integration


def test_keys_see_only_their_institution_on_postgres(own, foreign, rw_key, foreign_key):
    ours = key_client(rw_key).get("/api/v1/sessions/").json()["results"]
    assert {row["id"] for row in ours} == {str(own.session.pk)}
    assert key_client(foreign_key).get(f"/api/v1/sessions/{own.session.pk}/").status_code == 404


def test_enrollment_sync_on_postgres(own, rw_key):
    url = f"/api/v1/courses/{own.course.pk}/enrollments/"
    body = {"enrollments": [{"username": "pg1", "external_id": "m-1"}, {"username": "pg2"}]}
    client = key_client(rw_key)
    first = client.put(url, body, content_type="application/json").json()
    again = client.put(url, body, content_type="application/json").json()
    assert (first["created"], again["unchanged"]) == (2, 2)
    assert Enrollment.objects.filter(course=own.course).count() == 2


def test_throttle_counts_live_in_redis(rw_key):
    from rest_framework.throttling import SimpleRateThrottle

    original = SimpleRateThrottle.THROTTLE_RATES
    SimpleRateThrottle.THROTTLE_RATES = {"api": "1/min"}
    try:
        client = key_client(rw_key)
        assert client.get("/api/v1/courses/").status_code == 200
        assert client.get("/api/v1/courses/").status_code == 429
    finally:
        SimpleRateThrottle.THROTTLE_RATES = original
