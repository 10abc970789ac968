"""Drive Debian's Chromium through Playwright against pytest-django's live server.

Never `playwright install`: the browser is the system's /usr/bin/chromium. axe-core comes
from npm (`npm ci` at the repository root, see package.json); without it, or without
Chromium, these tests are skipped and say why.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
AXE_JS = ROOT / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
SCREENSHOTS = ROOT / "var" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    # Chromium upgrades plain-HTTP navigations to HTTPS by default; the live server
    # speaks HTTP only.
    "--disable-features=HttpsUpgrades",
]


@pytest.fixture(scope="session")
def browser(django_db_setup):
    if not Path(CHROMIUM).exists() and not shutil.which(CHROMIUM):
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop running in this thread; the tests' own
    # ORM calls stay synchronous and safe, so tell Django's async guard (and put it back).
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
            )
            yield browser
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture(scope="session")
def server(django_db_setup, django_db_blocker):
    """pytest-django's live server, speaking plain HTTP.

    The security middleware reads SECURE_SSL_REDIRECT once, when the server thread
    builds its handler, so the override must be in place before the server starts.
    """
    from django.conf import settings
    from django.test import override_settings

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
        from pytest_django.live_server_helper import LiveServer

        server = LiveServer("localhost")
        server._live_server_modified_settings.enable()
        try:
            yield server
        finally:
            server._live_server_modified_settings.disable()
            server.stop()


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
            [
                {
                    "name": "sessionid",
                    "value": client.cookies["sessionid"].value,
                    "url": server.url,
                }
            ]
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
