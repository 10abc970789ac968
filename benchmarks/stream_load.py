"""Load: simulated students at 1 frame/s for minutes, PostgreSQL + Redis + real workers.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/proctor_bench \\
        .venv/bin/python benchmarks/stream_load.py

Each student streams 640x480 JPEGs at 1 frame/s (20 s with a face, 20 s without, phases
spread), keeps every frame until it is acked and resends accepted-but-unacked frames after
20 s, as the page does. A reviewer watches the live view. Printed: frames lost (sent but
never processed), frame -> incident latency (from sending the frame whose capture time
completes ``no_face_min_s`` to the reviewer's row listing the incident), worker backlog,
and CPU per frame and per session so that a cluster can be sized. Targets:
100 students for 5 minutes, zero lost, p95 < 2 s. BENCH_STUDENTS, BENCH_DURATION_S and
BENCH_WORKERS change the set-up (BENCH_WORKER_ARGS adds celery worker options, e.g.
--pool=solo). Shared 2-core machine: expect noise.
"""

from __future__ import annotations

import asyncio
import os
import random
import time

from _stream import (
    Stack,
    WebSocket,
    cookie_for,
    cpu_seconds,
    jpeg_of_size,
    make_sessions,
    percentile,
    require_postgres,
    setup_django,
    ticket_for,
)

STUDENTS = int(os.environ.get("BENCH_STUDENTS", "100"))
DURATION_S = float(os.environ.get("BENCH_DURATION_S", "300"))
WORKERS = int(os.environ.get("BENCH_WORKERS", "2"))
DRAIN_S = float(os.environ.get("BENCH_DRAIN_S", "180"))
PHASE_S = 20  # seconds with a face, then as many without
NO_FACE_MIN_S = 5


class Student:
    def __init__(self, session, cookie, ticket, faces, empties, stats):
        self.session, self.cookie, self.ticket = session, cookie, ticket
        self.faces, self.empties, self.stats = faces, empties, stats
        self.phase = random.uniform(0, 2 * PHASE_S)  # noqa: S311
        # seq -> frame, sent at, accepted, resend after (doubling, as stream.js does)
        self.pending: dict[int, tuple[bytes, float, bool, float]] = {}
        self.triggers: dict[int, float] = {}  # seq that completes no_face_min_s -> sent at
        self.open_since: float | None = None

    async def run(self, port, stop_at):
        from monitoring.protocol import build_frame

        ws = await WebSocket.connect(port, "/ws/monitoring/stream/", self.cookie)
        await ws.send_json({"type": "auth", "session": str(self.session.pk),
                            "ticket": self.ticket, "client_ms": time.time() * 1000})
        assert (await ws.recv_json())["type"] == "ready"
        reader = asyncio.create_task(self.read(ws))
        seq, start = 0, time.monotonic()
        # Capture time of the first frame of the current run without a face, and whether
        # its incident's frame has been sent.
        empty_since_ms: float | None = None
        triggered = False
        while time.monotonic() < stop_at:
            t = time.monotonic() - start + self.phase
            has_face = (t // PHASE_S) % 2 == 0
            seq += 1
            image = (self.faces if has_face else self.empties)[seq % 4]
            captured_ms = time.time() * 1000
            message = build_frame(self.session.pk, seq, captured_ms, image)
            self.pending[seq] = (message, time.monotonic(), False, 20.0)
            if has_face:
                empty_since_ms, triggered = None, False
            elif empty_since_ms is None:
                empty_since_ms = captured_ms
            # The frame whose capture time completes no_face_min_s (the rules compare
            # capture times) is the one that opens the incident.
            if (empty_since_ms is not None and not triggered
                    and captured_ms - empty_since_ms >= NO_FACE_MIN_S * 1000):
                self.triggers[seq] = time.perf_counter()
                triggered = True
            await ws.send(message)
            self.stats["sent"] += 1
            await self.resend(ws)
            await asyncio.sleep(max(0.0, seq - (time.monotonic() - start)))
        deadline = time.monotonic() + DRAIN_S
        while self.pending and time.monotonic() < deadline:
            await asyncio.sleep(1)
            await self.resend(ws)
        self.stats["unacked"] += len(self.pending)
        reader.cancel()
        ws.close()

    async def resend(self, ws):
        for old, (data, sent_at, accepted, after) in list(self.pending.items()):
            if accepted and time.monotonic() - sent_at > after:
                self.pending[old] = (data, time.monotonic(), False, min(160.0, after * 2))
                self.stats["resent"] += 1
                await ws.send(data)

    async def read(self, ws):
        while True:
            message = await ws.recv_json()
            if message is None:
                return
            kind, seq = message.get("type"), message.get("seq")
            if kind == "accepted" and seq in self.pending:
                data, sent_at, _, after = self.pending[seq]
                self.pending[seq] = (data, sent_at, True, after)
            elif kind in ("ack", "reject") and seq in self.pending:
                del self.pending[seq]
                self.stats["acked"] += 1
            elif kind == "error":
                self.stats[message.get("code", "error")] = (
                    self.stats.get(message.get("code", "error"), 0) + 1)


async def watch(port, cookie, students, latencies, stop):
    by_session = {str(s.session.pk): s for s in students}
    live = await WebSocket.connect(port, "/ws/monitoring/live/", cookie)
    # Read without timeouts: cancelling a read half-way through a frame would desync it.
    while not stop.is_set():
        message = await live.recv_json()
        if message is None:
            return
        if message["type"] != "update":
            continue
        row = message["row"]
        student = by_session.get(row["session"])
        if student is None:
            continue
        is_open = "no_face" in row["open_incidents"]
        if is_open and student.open_since is None:
            student.open_since = time.perf_counter()
            sent = [t for seq, t in student.triggers.items() if t <= student.open_since]
            if sent:
                latencies.append(student.open_since - max(sent))
        elif not is_open:
            student.open_since = None
    live.close()


async def run(stack, students, reviewer_cookie):
    latencies: list[float] = []
    stop = asyncio.Event()
    watcher = asyncio.create_task(watch(stack.port, reviewer_cookie, students, latencies, stop))
    stop_at = time.monotonic() + DURATION_S
    await asyncio.gather(*(s.run(stack.port, stop_at) for s in students))
    stop.set()
    watcher.cancel()
    return latencies


def main() -> None:
    require_postgres()
    setup_django()
    from django.db.models import Count, Q

    from monitoring.models import Receipt

    sessions, reviewer, _ = make_sessions(STUDENTS, fps=1)
    faces = [jpeg_of_size(45_000, face=True, seed=i) for i in range(4)]
    empties = [jpeg_of_size(45_000, face=False, seed=10 + i) for i in range(4)]
    stats = {"sent": 0, "acked": 0, "resent": 0, "unacked": 0}
    students = [Student(s, cookie_for(s.student), ticket_for(s), faces, empties, stats)
                for s in sessions]
    reviewer_cookie = cookie_for(reviewer)
    stack = Stack()
    try:
        stack.start_workers(WORKERS)
        cpu0 = {p.pid: cpu_seconds(p.pid) for p in [stack.daphne, *stack.workers]}
        wall = time.perf_counter()
        latencies = asyncio.run(run(stack, students, reviewer_cookie))
        wall = time.perf_counter() - wall
        cpu = {pid: cpu_seconds(pid) - before for pid, before in cpu0.items()}
    finally:
        stack.stop()
    counts = Receipt.objects.filter(session__in=sessions, stream="frame").aggregate(
        processed=Count("id", filter=Q(processed_at__isnull=False)),
        quarantined=Count("id", filter=Q(failed_at__isnull=False)),
        total=Count("id"),
    )
    processed = counts["processed"]
    worker_cpu = sum(v for pid, v in cpu.items() if pid != stack.daphne.pid)
    lost = stats["sent"] - processed - counts["quarantined"]
    print(f"stream load: {STUDENTS} students x 1 frame/s for {DURATION_S:g} s, "
          f"{WORKERS} worker process(es), wall {wall:.0f} s incl. drain")
    print(f"  frames        sent {stats['sent']}, processed {processed}, quarantined "
          f"{counts['quarantined']}, not processed when the drain ended {lost}, resent "
          f"{stats['resent']}, unacked by then {stats['unacked']}   (target: 0 lost)")
    print(f"  frame->incident in live view  n={len(latencies)}  p50 "
          f"{percentile(latencies, 50) * 1000:.0f} ms, p95 "
          f"{percentile(latencies, 95) * 1000:.0f} ms   (target p95 < 2000 ms)")
    per_frame = worker_cpu / max(processed, 1) * 1000
    daphne_ms = cpu[stack.daphne.pid] / max(processed, 1) * 1000
    print(f"  CPU per frame  workers {per_frame:.1f} ms, Daphne {daphne_ms:.2f} ms")
    print(f"  CPU per session-hour at 1 frame/s  {(per_frame + daphne_ms) * 3600 / 1000:.0f} "
          f"CPU-s, i.e. one core serves ~{1000 / (per_frame + daphne_ms):.0f} students")


if __name__ == "__main__":
    main()
