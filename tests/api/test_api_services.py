"""API keys, enrolment sync, error bodies and the signed review webhook."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from celery.exceptions import Retry
from django.core.management import call_command

from audit.models import AuditEvent
from exams.models import Enrollment
from lms.api.errors import ApiKeyInvalid, ApiKeyRevoked, EnrollmentSyncConflict
from lms.api.services import (
    api_key_authenticate,
    api_key_create,
    api_key_revoke,
    enrollment_sync,
    webhook_signature,
)
from lms.api.tasks import MAX_ATTEMPTS, deliver_webhook
from lms.api.webhooks import review_completed_notify
from lms.models import ApiKey, WebhookDelivery, WebhookEndpoint
from reviews.models import ReviewDecision
from tests import factories as f
from tests.api.conftest import key_client


def test_api_key_is_stored_hashed_and_shown_once(institution):
    key, raw = api_key_create(institution=institution, name="Moodle", scopes=["read"])
    assert raw.startswith(f"prk_{key.prefix}_")
    assert key.key_sha256 == hashlib.sha256(raw.encode()).hexdigest()
    assert raw not in json.dumps(list(ApiKey.objects.values()), default=str)
    assert api_key_authenticate(raw_key=raw) == key


def test_api_key_records_last_use(institution):
    key, raw = api_key_create(institution=institution, name="Moodle", scopes=["read"])
    assert key.last_used_at is None
    api_key_authenticate(raw_key=raw)
    key.refresh_from_db()
    assert key.last_used_at is not None


def test_wrong_or_revoked_key_is_refused(institution):
    key, raw = api_key_create(institution=institution, name="Moodle", scopes=["read"])
    with pytest.raises(ApiKeyInvalid, match="not valid"):
        api_key_authenticate(raw_key=raw[:-2] + "xx")
    with pytest.raises(ApiKeyInvalid, match="malformed"):
        api_key_authenticate(raw_key="hello")
    api_key_revoke(api_key=key, actor=None)
    with pytest.raises(ApiKeyRevoked, match="was revoked"):
        api_key_authenticate(raw_key=raw)


def test_unknown_scope_is_refused(institution):
    with pytest.raises(ValueError, match="Unknown API key scope"):
        api_key_create(institution=institution, name="x", scopes=["admin"])


def test_create_api_key_command_prints_the_key_once(institution, capsys):
    call_command("create_api_key", "demo", "Canvas", "--scope", "read", "--scope", "write")
    raw = capsys.readouterr().out.strip()
    key = api_key_authenticate(raw_key=raw)
    assert key.scopes == ["read", "write"]
    assert key.institution == institution


def test_revoked_key_gets_401_with_the_error_body(institution):
    key, raw = api_key_create(institution=institution, name="Moodle", scopes=["read"])
    api_key_revoke(api_key=key, actor=None)
    response = key_client(raw).get("/api/v1/courses/")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"
    assert "revoked" in response.json()["error"]["message"]
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_enrollment_sync_creates_updates_removes_and_is_idempotent(course, student):
    rows = [
        {"username": "carla", "external_id": "u-1", "extra_time_min": 15},
        {"username": "dan", "disabled_checks": ["speech"]},
    ]
    first = enrollment_sync(course=course, rows=rows, actor=None)
    assert (first.created, first.updated, first.removed) == (2, 0, 1)  # alice removed
    again = enrollment_sync(course=course, rows=rows, actor=None)
    assert (again.created, again.updated, again.removed, again.unchanged) == (0, 0, 0, 2)
    rows[0]["extra_time_min"] = 30
    changed = enrollment_sync(course=course, rows=rows, actor=None)
    assert (changed.updated, changed.unchanged) == (1, 1)
    assert set(Enrollment.objects.filter(course=course).values_list(
        "student__username", flat=True)) == {"carla", "dan"}
    assert AuditEvent.objects.filter(action="enrollment.sync", course=course).count() == 3


def test_enrollment_sync_refuses_staff_accounts(course, reviewer):
    with pytest.raises(EnrollmentSyncConflict, match="rita"):
        enrollment_sync(course=course, rows=[{"username": "rita"}], actor=None)


def test_enrollment_sync_conflict_is_409_and_duplicates_400(course, reviewer, rw_key):
    client = key_client(rw_key)
    url = f"/api/v1/courses/{course.pk}/enrollments/"
    response = client.put(url, {"enrollments": [{"username": "rita"}]},
                          content_type="application/json")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "conflict"
    response = client.put(url, {"enrollments": [{"username": "x"}, {"username": "x"}]},
                          content_type="application/json")
    assert response.status_code == 400
    assert "repeated: x" in json.dumps(response.json()["error"]["details"])


def test_duplicate_course_code_is_409(course, rw_key):
    response = key_client(rw_key).post(
        "/api/v1/courses/", {"code": course.code, "title": "Again"},
        content_type="application/json",
    )
    assert response.status_code == 409
    assert course.code in response.json()["error"]["message"]


def test_throttled_calls_get_429_with_the_error_body(rw_key):
    from django.core.cache import cache
    from rest_framework.throttling import SimpleRateThrottle

    cache.clear()
    # DRF reads the rates once, at import; swap them for this test only.
    original = SimpleRateThrottle.THROTTLE_RATES
    SimpleRateThrottle.THROTTLE_RATES = {"api": "2/min"}
    try:
        client = key_client(rw_key)
        statuses = [client.get("/api/v1/courses/").status_code for _ in range(3)]
        response = client.get("/api/v1/courses/")
    finally:
        SimpleRateThrottle.THROTTLE_RATES = original
        cache.clear()
    assert statuses == [200, 200, 429]
    assert response.json()["error"]["status"] == 429
    assert "Retry-After" in response.headers


# --- Webhook -------------------------------------------------------------------------


class _Receiver(BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], bytes]] = []
    connections: list[str] = []  # every TCP connection, even one that sends no request
    status = 200
    location = ""

    def setup(self) -> None:
        type(self).connections.append(self.client_address[0])
        super().setup()

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((dict(self.headers), body))
        self.send_response(type(self).status)
        if type(self).location:
            self.send_header("Location", type(self).location)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(autouse=True)
def _tasks_run_in_process():
    # With REDIS_URL set (integration runs) tasks would go to a worker; run them here.
    from proctor_site.celery import app

    eager = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = eager


@pytest.fixture
def receiver() -> Iterator[tuple[str, type[_Receiver]]]:
    handler = type("Receiver", (_Receiver,), {"received": [], "connections": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook", handler
    server.shutdown()
    server.server_close()


def _close_review(session, reviewer):
    return f.ReviewDecisionFactory(
        incident=None, session=session, reviewer=reviewer,
        decision=ReviewDecision.Decision.CLOSE_VIOLATION,
    )


def _deliver_expecting_a_retry(*, institution, session, reviewer, url, capture):
    """Register ``url``, close the review, run one delivery that asks to be retried."""
    WebhookEndpoint.objects.create(institution=institution, url=url, secret="s")
    _close_review(session, reviewer)
    with capture(execute=False):
        delivery = review_completed_notify(session=session)
    with pytest.raises(Retry):
        deliver_webhook.apply(args=[str(delivery.pk)], retries=0, throw=True)
    delivery.refresh_from_db()
    return delivery


def test_review_completed_webhook_is_signed_and_delivered_once(
    institution, session, reviewer, receiver, django_capture_on_commit_callbacks, settings
):
    settings.PROCTOR_WEBHOOK_ALLOW_PRIVATE = True  # the receiver is on 127.0.0.1
    url, handler = receiver
    endpoint = WebhookEndpoint.objects.create(institution=institution, url=url, secret="s3cret")
    f.IncidentFactory(session=session)
    _close_review(session, reviewer)
    with django_capture_on_commit_callbacks(execute=True):
        delivery = review_completed_notify(session=session)
        assert review_completed_notify(session=session) == delivery  # no second delivery
    assert len(handler.received) == 1
    headers, body = handler.received[0]
    expected = "v1=" + hmac.new(
        b"s3cret", headers["Proctor-Timestamp"].encode() + b"." + body, hashlib.sha256
    ).hexdigest()
    assert hmac.compare_digest(headers["Proctor-Signature"], expected)
    assert expected == webhook_signature(
        secret=endpoint.secret, timestamp=int(headers["Proctor-Timestamp"]), body=body
    )
    payload = json.loads(body)
    assert payload["event"] == "review.completed"
    assert payload["session"] == str(session.pk)
    assert payload["outcome"] == "close_violation"
    assert payload["incidents"]["pending"] == 1
    assert "alice" not in body.decode()  # the LMS's own id identifies the student
    delivery.refresh_from_db()
    assert delivery.status == WebhookDelivery.Status.DELIVERED
    assert delivery.attempts == 1
    assert delivery.body == ""  # not kept once delivered


def test_failing_receiver_is_retried_then_given_up(
    institution, session, reviewer, receiver, django_capture_on_commit_callbacks, settings
):
    settings.PROCTOR_WEBHOOK_ALLOW_PRIVATE = True  # the receiver is on 127.0.0.1
    url, handler = receiver
    handler.status = 500
    WebhookEndpoint.objects.create(institution=institution, url=url, secret="s3cret")
    _close_review(session, reviewer)
    with django_capture_on_commit_callbacks(execute=False):
        delivery = review_completed_notify(session=session)
    # A worker would run each retry later; here each attempt is run by hand.
    for _ in range(MAX_ATTEMPTS):
        with contextlib.suppress(Retry):
            deliver_webhook.apply(args=[str(delivery.pk)], retries=0, throw=True)
    assert deliver_webhook.apply(args=[str(delivery.pk)]).get() == "skipped"
    delivery.refresh_from_db()
    assert delivery.status == WebhookDelivery.Status.FAILED
    assert delivery.attempts == len(handler.received) == 8
    assert delivery.last_error == "HTTP 500"


@pytest.mark.parametrize(
    ("scheme", "why"),
    [
        ("https", "127.0.0.1 is a loopback address"),
        ("http", "use an https:// address"),
    ],
)
def test_delivery_to_a_loopback_receiver_is_refused_unsent_and_not_retried(
    institution, session, reviewer, receiver, django_capture_on_commit_callbacks, settings,
    scheme, why,
):
    settings.PROCTOR_WEBHOOK_ALLOW_PRIVATE = False
    url, handler = receiver
    # Stored directly, as a row saved before URLs were checked would be.
    WebhookEndpoint.objects.create(
        institution=institution, url=url.replace("http://", f"{scheme}://"), secret="s"
    )
    _close_review(session, reviewer)
    with django_capture_on_commit_callbacks(execute=True):
        delivery = review_completed_notify(session=session)
    delivery.refresh_from_db()
    assert handler.connections == []  # not even a TCP connection was opened
    assert delivery.status == WebhookDelivery.Status.FAILED
    assert delivery.attempts == 1
    assert delivery.last_error.startswith("Refused: The webhook URL ")
    assert why in delivery.last_error
    assert delivery.body == ""
    refusal = AuditEvent.objects.get(action="webhook.refused")
    assert refusal.target == f"webhook_delivery:{delivery.pk}"
    assert why in refusal.reason
    assert deliver_webhook.apply(args=[str(delivery.pk)]).get() == "skipped"  # not retried
    assert handler.connections == []


def test_delivery_looks_the_name_up_again_and_refuses_an_internal_answer(
    institution, session, reviewer, receiver, django_capture_on_commit_callbacks, settings,
    dns,
):
    from lms.api.webhook_targets import webhook_url_check

    settings.PROCTOR_WEBHOOK_ALLOW_PRIVATE = False
    url, handler = receiver
    port = url.split(":")[2].split("/")[0]
    dns.answers["lms.example.org"] = ["93.184.216.34"]
    endpoint_url = f"https://lms.example.org:{port}/hook"
    webhook_url_check(url=endpoint_url)  # public when it was saved ...
    WebhookEndpoint.objects.create(institution=institution, url=endpoint_url, secret="s")
    dns.answers["lms.example.org"] = ["127.0.0.1"]  # ... loopback by delivery (rebinding)
    _close_review(session, reviewer)
    with django_capture_on_commit_callbacks(execute=True):
        delivery = review_completed_notify(session=session)
    delivery.refresh_from_db()
    assert handler.connections == []
    assert delivery.status == WebhookDelivery.Status.FAILED
    assert "lms.example.org resolves to 127.0.0.1, a loopback address" in delivery.last_error


def test_delivery_connects_to_the_address_it_checked_and_keeps_the_host_name(
    institution, session, reviewer, receiver, django_capture_on_commit_callbacks, settings,
    dns,
):
    settings.PROCTOR_WEBHOOK_ALLOW_PRIVATE = True  # the receiver is on 127.0.0.1
    url, handler = receiver
    port = url.split(":")[2].split("/")[0]
    dns.answers["lms.example.org"] = ["127.0.0.1"]
    WebhookEndpoint.objects.create(
        institution=institution, url=f"http://lms.example.org:{port}/hook?tenant=7",
        secret="s",
    )
    _close_review(session, reviewer)
    with django_capture_on_commit_callbacks(execute=True):
        delivery = review_completed_notify(session=session)
    delivery.refresh_from_db()
    assert delivery.status == WebhookDelivery.Status.DELIVERED
    # One lookup, the check's: the connection went to the address it returned, so a
    # different second answer could not redirect the POST.
    assert dns.lookups == ["lms.example.org"]
    assert len(handler.received) == 1
    headers, _body = handler.received[0]
    assert headers["Host"] == f"lms.example.org:{port}"


def test_redirects_are_not_followed(
    institution, session, reviewer, receiver, django_capture_on_commit_callbacks, settings
):
    settings.PROCTOR_WEBHOOK_ALLOW_PRIVATE = True  # the receiver is on 127.0.0.1
    url, handler = receiver
    handler.status = 307
    handler.location = url.replace("/hook", "/elsewhere")
    delivery = _deliver_expecting_a_retry(
        institution=institution, session=session, reviewer=reviewer, url=url,
        capture=django_capture_on_commit_callbacks,
    )
    assert len(handler.received) == 1
    assert delivery.status == WebhookDelivery.Status.PENDING
    assert delivery.last_error.startswith("HTTP 307: redirects are not followed")


def test_a_name_that_does_not_resolve_at_delivery_is_retried_not_refused(
    institution, session, reviewer, django_capture_on_commit_callbacks, settings, dns
):
    settings.PROCTOR_WEBHOOK_ALLOW_PRIVATE = False
    delivery = _deliver_expecting_a_retry(
        institution=institution, session=session, reviewer=reviewer,
        url="https://gone.example.org/hook", capture=django_capture_on_commit_callbacks,
    )
    assert delivery.status == WebhookDelivery.Status.PENDING
    assert "its host gone.example.org does not resolve" in delivery.last_error
    assert not AuditEvent.objects.filter(action="webhook.refused").exists()


def test_no_webhook_without_endpoint_or_closing_decision(institution, session, reviewer):
    assert review_completed_notify(session=session) is None
    WebhookEndpoint.objects.create(institution=institution, url="http://127.0.0.1:9/", secret="x")
    assert review_completed_notify(session=session) is None


def test_enrollment_sync_finds_students_first_seen_through_lti(course, institution):
    from lms.models import LtiIdentity, LtiRegistration

    registration = LtiRegistration.objects.create(
        institution=institution, name="Moodle", issuer="https://lms.test", client_id="c",
        auth_login_url="https://lms.test/a", auth_token_url="https://lms.test/t",
        key_set_url="https://lms.test/k", deployment_ids=["1"],
    )
    launched = f.UserFactory(username="lti-0123456789abcdef")
    LtiIdentity.objects.create(registration=registration, subject="moodle-9", user=launched)
    rows = [{"username": "s9", "external_id": "moodle-9"}]
    assert enrollment_sync(course=course, rows=rows, actor=None).created == 1
    assert Enrollment.objects.get(course=course).student == launched
    assert enrollment_sync(course=course, rows=rows, actor=None).unchanged == 1
    rows.append({"username": launched.username})
    with pytest.raises(EnrollmentSyncConflict, match="same student"):
        enrollment_sync(course=course, rows=rows, actor=None)


def test_sessions_carry_the_lms_id_of_the_student(session, rw_key):
    Enrollment.objects.filter(student=session.student).update(external_id="moodle-1")
    body = key_client(rw_key).get(f"/api/v1/sessions/{session.pk}/").json()
    assert (body["student"], body["student_external_id"]) == ("alice", "moodle-1")


def test_plain_views_can_answer_with_the_api_error_body():
    from lms.api.exceptions import api_error_response

    response = api_error_response(404, "No checkpoint has been signed yet.")
    assert response.status_code == 404
    assert json.loads(response.content) == {"error": {
        "status": 404, "code": "not_found", "message": "No checkpoint has been signed yet.",
        "details": None,
    }}


def test_lists_take_a_constant_number_of_queries(
    own, rw_key, django_assert_max_num_queries
):
    client = key_client(rw_key)
    for url in ["/api/v1/incidents/", "/api/v1/sessions/", "/api/v1/review-decisions/"]:
        client.get(url)  # warm up: last_used_at, permissions
        with django_assert_max_num_queries(20) as few:
            client.get(url)
        f.IncidentFactory.create_batch(10, session=own.session)
        f.ExamSessionFactory.create_batch(5, exam=own.exam)
        f.ReviewDecisionFactory.create_batch(5, incident=own.incident)
        with django_assert_max_num_queries(len(few.captured_queries)):
            client.get(url)


def test_closing_a_review_queues_the_webhook(institution, session, reviewer):
    from reviews.services import review_close

    WebhookEndpoint.objects.create(
        institution=institution, url="https://lms.example.org/hook", secret="s"
    )
    review_close(session=session, reviewer=reviewer, outcome="close_clear")
    delivery = WebhookDelivery.objects.get()
    assert json.loads(delivery.body)["outcome"] == "close_clear"
