"""The review pages in a real browser: no serious axe violations, keyboard works.

They use the shared Chromium (tests/e2e/conftest.py: one Playwright per test session)
but pytest-django's in-process live server, so that the test's media folder and the
pages' evidence are the same files. axe-core comes from npm (`npm ci`, package.json).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest
from django.core.files.base import ContentFile
from django.utils import timezone

from exams.models import Enrollment, ExamSession
from monitoring import observations
from monitoring.models import Evidence, Incident
from reviews import services
from tests import factories as f

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
AXE_JS = ROOT / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = ROOT / "var" / "screenshots"


@pytest.fixture(scope="session")
def server(django_db_setup, django_db_blocker):
    """pytest-django's live server, speaking plain HTTP.

    The security middleware reads SECURE_SSL_REDIRECT once, when the server thread
    builds its handler, so the override must be in place before the server starts.
    """
    from django.conf import settings
    from django.test import override_settings
    from pytest_django.live_server_helper import LiveServer

    with override_settings(
        SECURE_SSL_REDIRECT=False,
        SESSION_COOKIE_SECURE=False,
        CSRF_COOKIE_SECURE=False,
        # Only the static files change: the other aliases (e.g. "evidence") must stay.
        STORAGES={
            **settings.STORAGES,
            "staticfiles": {
                "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
            },
        },
    ):
        live = LiveServer("localhost")
        live._live_server_modified_settings.enable()
        try:
            yield live
        finally:
            live._live_server_modified_settings.disable()
            live.stop()


@pytest.fixture
def axe_source():
    if not AXE_JS.exists():
        pytest.skip(f"axe-core missing at {AXE_JS}: run `npm ci` at the repository root")
    return AXE_JS.read_text()


@pytest.fixture
def page_as(browser, server, client):
    """``page_as(user)``: a new page whose session cookie logs ``user`` in."""
    contexts = []

    def open_page(user):
        client.force_login(user)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.add_cookies(
            [{"name": "sessionid", "value": client.cookies["sessionid"].value,
              "url": server.url}]
        )
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()


def run_axe(page, axe_source: str) -> list[dict]:
    """Inject axe-core and return the serious or critical violations."""
    page.add_script_tag(content=axe_source)
    result = page.evaluate("async () => await axe.run(document)")
    return [v for v in result["violations"] if v["impact"] in {"serious", "critical"}]


def screenshot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


@pytest.fixture
def finished_session(session):
    start = timezone.now() - timedelta(minutes=50)
    ExamSession.objects.filter(pk=session.pk).update(
        state=ExamSession.State.SUBMITTED,
        started_at=start,
        deadline_at=start + timedelta(minutes=60),
        ended_at=start + timedelta(minutes=45),
    )
    session.refresh_from_db()
    return session


KINDS = [
    ("no_face", "high"),
    ("looking_away", "medium"),
    ("tab_hidden", "low"),
    ("multiple_faces", "high"),
    ("copy_paste", "medium"),
    ("window_blur", "low"),
    ("speech", "medium"),
]


def _jpeg(shade: int) -> bytes:
    image = np.full((120, 160, 3), shade, dtype=np.uint8)
    cv2.rectangle(image, (50, 20), (110, 100), (90, 90, 90), -1)  # a blurred "head"
    ok, data = cv2.imencode(".jpg", image)
    assert ok
    return data.tobytes()


@pytest.fixture
def reviewed_session(finished_session, student, reviewer, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    Enrollment.objects.filter(student=student).update(disabled_checks=["speech"])
    start = finished_session.started_at
    incidents = []
    for i in range(40):
        kind, severity = KINDS[i % len(KINDS)]
        begin = start + timedelta(seconds=30 + i * 63)
        incidents.append(
            f.IncidentFactory(
                session=finished_session,
                kind=kind,
                severity=severity,
                started_at=begin,
                ended_at=begin + timedelta(seconds=5 + (i % 4) * 20),
                score=0.55 + (i % 5) * 0.1,
                payload=b'{"faces": 2, "rule": "multiple_faces_min_s"}',
            )
        )
    for i, incident in enumerate(incidents[:12]):
        evidence = Evidence(
            session=finished_session, incident=incident, seq=i, captured_at=incident.started_at
        )
        evidence.image.save(f"frame{i}.jpg", ContentFile(_jpeg(180 + i * 5)), save=True)
    for i in range(0, 45 * 60, 5):
        observations.observation_record(
            session=finished_session,
            seq=i,
            captured_at=start + timedelta(seconds=i),
            face_count=2 if 600 < i < 640 else (0 if 1200 < i < 1300 else 1),
            yaw_deg=25 * np.sin(i / 90) + (40 if 1800 < i < 1900 else 0),
            pitch_deg=10 * np.cos(i / 70),
            gaze_x=0.15 + 0.1 * np.sin(i / 40),
            gaze_y=0.05,
        )
    services.incident_dismiss(incident=incidents[2], reviewer=reviewer, note="notification")
    services.incident_confirm(incident=incidents[3], reviewer=reviewer, note="second person")
    services.appeal_submit(
        session=finished_session, student=student, text="My flatmate opened the door once."
    )
    return finished_session, incidents


def test_reviewer_pages_pass_axe(page_as, server, reviewer, reviewed_session, axe_source):
    session, incidents = reviewed_session
    page = page_as(reviewer)
    page.goto(f"{server.url}/review/")
    assert page.get_by_role("heading", name="Review queue").is_visible()
    assert run_axe(page, axe_source) == []
    screenshot(page, "review-queue")

    page.goto(f"{server.url}/review/sessions/{session.pk}/?incident={incidents[0].pk}")
    assert page.locator("svg.timeline-svg").is_visible()
    violations = run_axe(page, axe_source)
    assert violations == [], [(v["id"], v["nodes"][0]["html"]) for v in violations]
    screenshot(page, "review-timeline")


def test_keyboard_moves_between_incidents(page_as, server, reviewer, reviewed_session):
    session, incidents = reviewed_session
    page = page_as(reviewer)
    page.goto(f"{server.url}/review/sessions/{session.pk}/")
    page.locator("[data-timeline]").focus()
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    status = page.locator(".tl-status")
    assert status.inner_text().startswith("2 of 40: Looking away")
    preview = page.locator(".thumb-preview img")
    assert preview.is_visible()
    assert preview.get_attribute("src").startswith("/review/evidence/")
    page.keyboard.press("Enter")
    page.wait_for_url(f"**incident={incidents[1].pk}**")
    assert page.get_by_role("heading", name="Looking away at").is_visible()
    page.get_by_role("link", name="Next incident").click()
    assert page.get_by_role("heading", name="Left the exam tab at").is_visible()


def test_reviewer_decides_with_the_keyboard_only(
    page_as, server, reviewer, reviewed_session
):
    session, incidents = reviewed_session
    page = page_as(reviewer)
    page.goto(f"{server.url}/review/sessions/{session.pk}/?incident={incidents[0].pk}")
    page.get_by_role("radio", name="Dismiss").check()
    page.get_by_label("Note (why; kept in the audit trail)").fill("glare on the camera")
    page.get_by_role("button", name="Record decision").press("Enter")
    page.wait_for_load_state()
    incidents[0].refresh_from_db()
    assert incidents[0].status == Incident.Status.DISMISSED


def test_student_pages_pass_axe(page_as, server, student, reviewed_session, axe_source):
    session, incidents = reviewed_session
    page = page_as(student)
    page.goto(f"{server.url}/review/mine/")
    assert run_axe(page, axe_source) == []
    screenshot(page, "student-sessions")
    page.goto(f"{server.url}/review/mine/{session.pk}/?incident={incidents[3].pk}")
    images = page.locator(".evidence img")
    assert images.count() == 1
    # The image loads lazily and through the permission-checked view: wait for it.
    page.wait_for_function(
        "() => { const i = document.querySelector('.evidence img');"
        " return i && i.complete && i.naturalWidth > 0; }"
    )
    assert images.first.evaluate("img => img.naturalWidth") == 160
    violations = run_axe(page, axe_source)
    assert violations == [], [(v["id"], v["nodes"][0]["html"]) for v in violations]
    screenshot(page, "student-report")
