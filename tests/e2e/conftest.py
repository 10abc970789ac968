"""Shared browser-test infrastructure: a real server (Daphne in a subprocess on a free
port, against the test database) and Debian's Chromium driven by Playwright.

Use it from any e2e test (stream, accessibility, review pages)::

    pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

    def test_something(daphne_server, page_for):
        page = page_for(student)            # a logged-in page on the live server
        page.goto(daphne_server.url("/exams/"))

``daphne_server`` is one Daphne process per test session in the embedded mode (no Redis:
tasks run on its in-process worker thread). Tests that need another set-up (a real
broker, workers) start their own with ``start_server(env=...)`` and ``start_worker``.
Data must be committed to be seen by the server: use ``transaction=True``.

Chromium is Debian's (`apt-get install chromium`; `make browser`), never a downloaded
build; tests are skipped with the reason when it is missing.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_database_url() -> str:
    """The URL of the database pytest-django created for this run (the subprocess's)."""
    from django.conf import settings

    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    user = db.get("USER") or "postgres"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    return f"postgres://{user}{password}@{host}:{port}/{db['NAME']}"


@dataclass
class Process:
    """A child process with its log file; stopped (and reaped) by ``stop``."""

    popen: subprocess.Popen
    log: Path
    name: str
    env: dict[str, str] = field(default_factory=dict)

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 10) -> None:
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, sig)
            try:
                self.popen.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout=timeout_s)

    def kill9(self) -> None:
        """SIGKILL the whole process group at once (a crash, not a shutdown)."""
        self.stop(signal.SIGKILL)

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def _spawn(name: str, argv: list[str], env: dict[str, str], log_dir: Path) -> Process:
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / f"{name}.log"
    full_env = {**os.environ, **env}
    with open(log, "ab") as out:
        popen = subprocess.Popen(  # noqa: S603 (our own interpreter and arguments)
            argv, cwd=REPO, env=full_env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Process(popen=popen, log=log, name=name, env=env)


@dataclass
class Server:
    process: Process
    port: int

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str = "/") -> str:
        return self.base_url + path

    def stop(self) -> None:
        self.process.stop()


def server_env(**overrides: str) -> dict[str, str]:
    """Environment for a server or worker on the test database; embedded by default."""
    env = {
        "DJANGO_SETTINGS_MODULE": "proctor_site.settings",
        "DATABASE_URL": test_database_url(),
        "REDIS_URL": "",
        "DEBUG": "1",
        "SECURE_SSL_REDIRECT": "0",
        "PYTHONUNBUFFERED": "1",
        "LOG_LEVEL": "WARNING",
    }
    env.update(overrides)
    return env


def start_server(log_dir: Path, *, env: dict[str, str] | None = None,
                 name: str = "daphne", timeout_s: float = 60) -> Server:
    """Daphne on a free port; returns once /healthz answers."""
    port = free_port()
    process = _spawn(
        name,
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port),
         "proctor_site.asgi:application"],
        server_env(**(env or {})), log_dir,
    )
    server = Server(process=process, port=port)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.popen.poll() is not None:
            raise RuntimeError(f"{name} exited:\n{process.tail()}")
        with contextlib.suppress(OSError):
            with urllib.request.urlopen(server.url("/healthz"), timeout=2):  # noqa: S310
                return server
        time.sleep(0.3)
    process.stop()
    raise RuntimeError(f"{name} did not answer within {timeout_s} s:\n{process.tail()}")


def start_worker(log_dir: Path, *, env: dict[str, str], name: str = "worker",
                 concurrency: int = 1) -> Process:
    """A Celery worker (prefork) on the given broker; returns once it is ready."""
    process = _spawn(
        name,
        [sys.executable, "-m", "celery", "-A", "proctor_site", "worker", "-l", "INFO",
         f"--concurrency={concurrency}", "--without-gossip", "--without-mingle",
         "--without-heartbeat", "-n", f"{name}-{os.getpid()}@%h"],
        server_env(**env), log_dir,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.popen.poll() is not None:
            raise RuntimeError(f"{name} exited:\n{process.tail()}")
        if "ready." in process.tail(200):
            return process
        time.sleep(0.3)
    process.stop()
    raise RuntimeError(f"{name} was not ready within 60 s:\n{process.tail()}")


@pytest.fixture(scope="session")
def e2e_log_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("e2e-logs")


@pytest.fixture(scope="session")
def daphne_server(django_db_setup, django_db_blocker, e2e_log_dir) -> Iterator[Server]:
    """One embedded-mode Daphne for the whole session, on the test database."""
    server = start_server(e2e_log_dir)
    yield server
    server.stop()


def chromium_available() -> bool:
    return Path(CHROMIUM).exists() or shutil.which("chromium") is not None


def launch_chromium(playwright, extra_args: list[str] | None = None):
    return playwright.chromium.launch(
        executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS + (extra_args or []),
    )


@pytest.fixture(scope="session")
def playwright_instance():
    if not chromium_available():
        pytest.skip(f"Debian's Chromium is not installed at {CHROMIUM} (make browser)")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs its own event loop; Django's async-safety check would
    # otherwise refuse the ORM calls the tests make around it.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "1")
    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="session")
def browser(playwright_instance):
    """Chromium with a fake camera (Chromium's own test pattern) and no permission prompts."""
    browser = launch_chromium(playwright_instance)
    yield browser
    browser.close()


@pytest.fixture(scope="session")
def face_clip_browser(playwright_instance, tmp_path_factory):
    """Chromium whose fake camera loops 10 s of a face and 10 s of nobody (clips.py)."""
    from tests.e2e.clips import build_y4m

    clip = build_y4m(tmp_path_factory.mktemp("clip") / "clip.y4m")
    browser = launch_chromium(playwright_instance, [f"--use-file-for-fake-video-capture={clip}"])
    yield browser
    browser.close()


def login(context, server: Server, user):
    """Log ``user`` in (a real Django session in the test database, its cookie in the
    browser context) and return a new page. The login form is not used: the test process
    hashes passwords with a fast hasher the server process does not know."""
    from django.conf import settings
    from django.test import Client

    client = Client()
    client.force_login(user)
    context.add_cookies([{
        "name": settings.SESSION_COOKIE_NAME,
        "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
        "url": server.base_url,
    }])
    page = context.new_page()
    # Keep the page's console and errors: they are the first thing to read when it fails.
    page.console_lines = []
    page.on("console", lambda m: page.console_lines.append(f"{m.type}: {m.text}"))
    page.on("pageerror", lambda e: page.console_lines.append(f"pageerror: {e}"))
    return page


@pytest.fixture
def page_for(browser, daphne_server) -> Iterator[Callable]:
    """``page_for(user)``: a fresh browser context logged in as ``user``, on daphne_server."""
    contexts = []

    def make(user, *, server: Server | None = None, browser_=None):
        context = (browser_ or browser).new_context()
        contexts.append(context)
        return login(context, server or daphne_server, user)

    yield make
    for context in contexts:
        context.close()


def wait_until_page_left(session, timeout_s: float = 20) -> None:
    """After closing a streaming page: wait until the shared server has recorded that it
    left (its socket's last database write), so that the test database's flush at
    teardown does not race that transaction (PostgreSQL reports it as a deadlock)."""
    from monitoring.models import LiveState

    deadline = time.monotonic() + timeout_s
    while LiveState.objects.filter(session=session, is_connected=True).exists():
        assert time.monotonic() < deadline, "the server never saw the page leave"
        time.sleep(0.2)
