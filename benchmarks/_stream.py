"""Shared helpers for the streaming benchmarks: a real stack and a small WebSocket client.

The stack is PostgreSQL (``DATABASE_URL``, must be postgres://), a private Redis on a free
port (never the machine's shared one), one Daphne process and, when asked, Celery workers.
The load generator speaks the stream protocol of docs/streaming.md over loopback with a
minimal RFC 6455 client (asyncio streams; no extra package).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
import urllib.request
from contextlib import suppress
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
LOGS = ROOT / "var" / "bench-logs"


def production_env() -> dict[str, str]:
    """Production settings (DEBUG off: no query log, no debug cursor) with throw-away
    secrets, shared by this process and the stack's children: the data keys the benchmark
    wraps when it creates sessions must unwrap in the workers."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    seed = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
        serialization.NoEncryption(),
    )
    return {
        "DEBUG": "0",
        "SECRET_KEY": base64.b64encode(os.urandom(48)).decode(),
        "PROCTOR_KEYRING": f"1:{base64.b64encode(os.urandom(32)).decode()}",
        "PROCTOR_INTEGRITY_SIGNING_KEY": base64.b64encode(seed).decode(),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "0",
        "MEDIA_ROOT": str(ROOT / "var" / "bench-media"),
    }


def require_postgres() -> str:
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        print("skipped: set DATABASE_URL=postgres://… (the stream benchmarks need PostgreSQL)")
        sys.exit(0)
    return url


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Stack:
    """Redis + Daphne (+ workers) as child processes; ``stop()`` ends them all."""

    def __init__(self) -> None:
        LOGS.mkdir(parents=True, exist_ok=True)
        self.procs: list[subprocess.Popen] = []
        self.redis_port = free_port()
        self.redis_url = f"redis://127.0.0.1:{self.redis_port}/0"
        # Persistent database connections, as production runs Daphne: with the default
        # CONN_MAX_AGE=0 every database_sync_to_async call opens a new PostgreSQL
        # connection (~10 ms), which alone capped ingest at ~30 frames/s.
        self.env = {**os.environ, "REDIS_URL": self.redis_url,
                    "DATABASE_CONN_MAX_AGE": os.environ.get("DATABASE_CONN_MAX_AGE", "300"),
                    "SECURE_SSL_REDIRECT": "0", "LOG_LEVEL": "WARNING",
                    "DJANGO_SETTINGS_MODULE": "proctor_site.settings"}
        self._spawn("redis", [shutil.which("redis-server") or "redis-server", "--port",
                              str(self.redis_port), "--bind", "127.0.0.1", "--save", "",
                              "--appendonly", "no"])
        time.sleep(0.5)
        self.port = free_port()
        # BENCH_DAPHNE_PREFIX: e.g. a profiling wrapper script instead of "-m daphne".
        prefix = os.environ.get("BENCH_DAPHNE_PREFIX", "-m daphne").split()
        self.daphne = self._spawn("daphne", [sys.executable, *prefix, "-b", "127.0.0.1",
                                             "-p", str(self.port),
                                             "proctor_site.asgi:application"])
        deadline = time.monotonic() + 60
        while True:
            with suppress(OSError):
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=2):
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("daphne did not start; see var/bench-logs/daphne.log")
            time.sleep(0.3)
        self.workers: list[subprocess.Popen] = []

    def _spawn(self, name: str, argv: list[str]) -> subprocess.Popen:
        log = open(LOGS / f"{name}.log", "ab")  # noqa: SIM115 (closed with the process)
        proc = subprocess.Popen(argv, cwd=ROOT, env=self.env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        self.procs.append(proc)
        return proc

    def start_workers(self, count: int, concurrency: int = 1) -> None:
        for i in range(count):
            name = f"worker{i}"
            proc = self._spawn(name, [sys.executable, "-m", "celery", "-A", "proctor_site",
                                      "worker", "-l", "INFO", f"--concurrency={concurrency}",
                                      *os.environ.get("BENCH_WORKER_ARGS", "").split(),
                                      "--without-gossip", "--without-mingle",
                                      "--without-heartbeat", "-n", f"bench{i}-{os.getpid()}@%h"])
            self.workers.append(proc)
        deadline = time.monotonic() + 90
        for i in range(count):
            while "ready." not in (LOGS / f"worker{i}.log").read_text(errors="replace"):
                if time.monotonic() > deadline:
                    raise RuntimeError("workers did not start; see var/bench-logs/")
                time.sleep(0.3)

    def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                with suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its children that were waited for, plus the
    live children found in /proc (Celery's prefork pool)."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    pids = [pid]
    with suppress(OSError):
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                with suppress(OSError):
                    fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                    if int(fields[1]) == pid:
                        pids.append(int(entry.name))
    for p in pids:
        with suppress(OSError):
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def setup_django():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "proctor_site.settings")
    for name, value in production_env().items():
        os.environ.setdefault(name, value)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def make_sessions(count: int, *, fps: int = 1, **exam_fields):
    """A fresh course, exam and ``count`` in-progress sessions; returns (sessions, reviewer,
    course). Built through the services, as the app would."""
    from datetime import timedelta

    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from exams import services
    from exams.models import Course, CourseStaff, Enrollment, Exam, Institution

    User = get_user_model()
    tag = f"bench{int(time.time() * 1000)}"
    institution = Institution.objects.create(name=tag, slug=tag)
    course = Course.objects.create(institution=institution, code=tag[-8:], title=tag)
    now = timezone.now()
    exam = Exam.objects.create(course=course, title=tag, opens_at=now - timedelta(hours=1),
                               closes_at=now + timedelta(hours=3), duration_min=120,
                               frame_rate_fps=fps, **exam_fields)
    reviewer = User.objects.create_user(f"{tag}-rev", password=None, is_staff=True)
    CourseStaff.objects.create(course=course, user=reviewer, role=CourseStaff.Role.REVIEWER)
    sessions = []
    for i in range(count):
        student = User.objects.create_user(f"{tag}-s{i}", password=None)
        Enrollment.objects.create(course=course, student=student)
        session = services.session_open(exam=exam, student=student)
        services.session_consent(session=session, actor=student)
        services.session_camera_check(session=session, actor=student)
        sessions.append(services.session_start(session=session, actor=student))
    return sessions, reviewer, course


def cookie_for(user) -> str:
    from django.conf import settings
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def ticket_for(session) -> str:
    from monitoring import services

    return services.ticket_issue(session=session, actor=session.student, purpose="exam")


def jpeg_of_size(target_bytes: int, *, face: bool = True, seed: int = 0) -> bytes:
    """A 640x480 JPEG near ``target_bytes`` (quality searched), a face or an empty room."""
    import cv2
    import numpy as np
    from skimage import data

    rng = np.random.default_rng(seed)
    scene = cv2.resize(cv2.cvtColor(data.coffee(), cv2.COLOR_RGB2BGR), (640, 480))
    if face:
        scene[:, 80:560] = cv2.resize(cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR),
                                      (480, 480))
    scene = np.clip(scene.astype(np.int16) + rng.integers(-8, 9, scene.shape), 0, 255)
    scene = scene.astype(np.uint8)
    best = b""
    for quality in range(30, 100, 5):
        ok, buf = cv2.imencode(".jpg", scene, [cv2.IMWRITE_JPEG_QUALITY, quality])
        best = buf.tobytes()
        if len(best) >= target_bytes:
            break
    return best


class WebSocket:
    """A minimal RFC 6455 client: text/binary out (masked), text/binary in."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def connect(cls, port: int, path: str, cookie: str) -> WebSocket:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write((
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            f"Sec-WebSocket-Version: 13\r\nOrigin: http://127.0.0.1:{port}\r\n"
            f"Cookie: sessionid={cookie}\r\n\r\n"
        ).encode())
        status = await reader.readline()
        if b" 101 " not in status:
            raise RuntimeError(f"handshake refused: {status!r}")
        while (await reader.readline()) not in (b"\r\n", b""):
            pass
        return cls(reader, writer)

    async def send(self, payload: bytes | str) -> None:
        opcode = 0x1 if isinstance(payload, str) else 0x2
        data = payload.encode() if isinstance(payload, str) else payload
        await self._send_frame(opcode, data)

    async def _send_frame(self, opcode: int, data: bytes) -> None:
        header = bytearray([0x80 | opcode])
        length = len(data)
        if length < 126:
            header.append(0x80 | length)
        elif length < 65536:
            header.append(0x80 | 126)
            header += struct.pack(">H", length)
        else:
            header.append(0x80 | 127)
            header += struct.pack(">Q", length)
        mask = os.urandom(4)
        header += mask
        # XOR-mask with numpy: the load generator shares the two cores with the server.
        import numpy as np

        key = np.frombuffer(mask * (length // 4 + 1), np.uint8)[:length]
        masked = (np.frombuffer(data, np.uint8) ^ key).tobytes()
        self.writer.write(bytes(header) + masked)
        await self.writer.drain()

    async def send_json(self, message: dict) -> None:
        await self.send(json.dumps(message))

    async def recv(self) -> str | bytes | None:
        """The next text (str) or binary (bytes) message; None when the socket closed."""
        while True:
            head = await self.reader.readexactly(2)
            opcode, length = head[0] & 0x0F, head[1] & 0x7F
            if length == 126:
                length = struct.unpack(">H", await self.reader.readexactly(2))[0]
            elif length == 127:
                length = struct.unpack(">Q", await self.reader.readexactly(8))[0]
            data = await self.reader.readexactly(length)
            if opcode == 0x8:
                return None
            if opcode == 0x1:
                return data.decode()
            if opcode == 0x2:
                return data
            if opcode == 0x9:
                # Daphne pings every 20 s and drops a client that does not answer in 30 s.
                await self._send_frame(0xA, data)

    async def recv_json(self) -> dict | None:
        while True:
            message = await self.recv()
            if message is None:
                return None
            if isinstance(message, str):
                return json.loads(message)

    def close(self) -> None:
        self.writer.close()


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]
