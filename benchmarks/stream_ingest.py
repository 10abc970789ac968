"""Ingest: one Daphne process, loopback load generator, 50 KB frames, ack latency.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/proctor_bench \
        .venv/bin/python benchmarks/stream_ingest.py

Targets: at least 500 frames/s accepted by ONE Daphne process, p99 latency of
the ``accepted`` answer (frame validated, published to Redis, receipt committed) under
100 ms. No worker runs, so this measures the socket path alone; the queue is dropped with
the private Redis at the end. Each simulated student stays within the server's own rate
limit (exam at 5 frames/s: 22 messages/s allowed), each at its own phase, so the load is
many students, as in life; every socket connects before the measured window opens.
Figures on a shared 2-core machine are noisy; the load generator shares the cores.
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

STUDENTS = int(os.environ.get("BENCH_STUDENTS", "52"))
PER_STUDENT_FPS = float(os.environ.get("BENCH_PER_STUDENT_FPS", "10"))
DURATION_S = float(os.environ.get("BENCH_DURATION_S", "20"))
WINDOW = 8  # frames in flight per student, as the page does


async def student(port, session, cookie, ticket, image, latencies, counts, start):
    try:
        await _stream(port, session, cookie, ticket, image, latencies, counts, start)
    except (ConnectionError, asyncio.IncompleteReadError) as exc:
        counts["sockets lost"] = counts.get("sockets lost", 0) + 1
        print(f"  a socket was lost: {exc!r}")


async def _stream(port, session, cookie, ticket, image, latencies, counts, start):
    from monitoring.protocol import build_frame

    ws = await WebSocket.connect(port, "/ws/monitoring/stream/", cookie)
    await ws.send_json({"type": "auth", "session": str(session.pk), "ticket": ticket,
                        "client_ms": time.time() * 1000})
    ready = await ws.recv_json()
    assert ready and ready["type"] == "ready", ready
    # Every socket connects first; the measured window starts when all of them stream.
    stop_at = await start
    sent: dict[int, float] = {}
    in_flight = asyncio.Semaphore(WINDOW)

    async def reader():
        while True:
            message = await ws.recv_json()
            if message is None:
                return
            if message["type"] == "accepted":
                latencies.append(time.perf_counter() - sent.pop(message["seq"]))
                counts["accepted"] += 1
                in_flight.release()
            elif message["type"] in ("error", "reject"):
                counts[message.get("code", "error")] = counts.get(message.get("code"), 0) + 1
                sent.pop(message.get("seq"), None)
                in_flight.release()

    task = asyncio.create_task(reader())
    seq = 0
    interval = 1 / PER_STUDENT_FPS
    # Students are not in step: each starts at its own phase of the frame interval.
    next_at = time.perf_counter() + random.uniform(0, interval)  # noqa: S311
    await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
    while time.perf_counter() < stop_at:
        await in_flight.acquire()
        seq += 1
        sent[seq] = time.perf_counter()
        await ws.send(build_frame(session.pk, seq, time.time() * 1000, image))
        counts["sent"] += 1
        next_at += interval
        await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
    await asyncio.sleep(2)  # let the last answers arrive
    task.cancel()
    ws.close()


async def run(stack, sessions, cookies, tickets, image):
    latencies: list[float] = []
    counts = {"sent": 0, "accepted": 0}
    start: asyncio.Future[float] = asyncio.get_running_loop().create_future()
    students = asyncio.gather(*(
        student(stack.port, s, c, t, image, latencies, counts, start)
        for s, c, t in zip(sessions, cookies, tickets, strict=True)
    ))
    await asyncio.sleep(5)  # all sockets connected and authenticated
    cpu_before = cpu_seconds(stack.daphne.pid)
    load_before = time.process_time()
    begin = time.perf_counter()
    start.set_result(begin + DURATION_S)
    await asyncio.sleep(DURATION_S)
    # Frames accepted within the window (the last ones' answers arrive just after it).
    accepted = counts["accepted"]
    cpu = cpu_seconds(stack.daphne.pid) - cpu_before
    counts["load generator cpu"] = time.process_time() - load_before
    await students
    counts["accepted in window"] = accepted
    return latencies, counts, DURATION_S, cpu


def main() -> None:
    require_postgres()
    setup_django()
    sessions, _, _ = make_sessions(STUDENTS, fps=5)
    image = jpeg_of_size(50_000)
    cookies = [cookie_for(s.student) for s in sessions]
    tickets = [ticket_for(s) for s in sessions]
    stack = Stack()
    try:
        latencies, counts, elapsed, cpu = asyncio.run(
            run(stack, sessions, cookies, tickets, image)
        )
    finally:
        stack.stop()
    rate = counts.pop("accepted in window") / elapsed
    load_cpu = counts.pop("load generator cpu")
    print(f"stream ingest: 1 Daphne process, {STUDENTS} students x {PER_STUDENT_FPS:g} "
          f"frames/s offered, {len(image) / 1000:.1f} KB JPEG frames, {DURATION_S:g} s")
    print(f"  accepted        {counts['accepted']} of {counts['sent']} sent "
          f"({ {k: v for k, v in counts.items() if k not in ('sent', 'accepted')} } refused)")
    print(f"  throughput      {rate:.0f} frames/s accepted   (target >= 500)")
    print(f"  accepted after  p50 {percentile(latencies, 50) * 1000:.1f} ms, "
          f"p95 {percentile(latencies, 95) * 1000:.1f} ms, "
          f"p99 {percentile(latencies, 99) * 1000:.1f} ms   (target p99 < 100 ms)")
    frames = max(rate * elapsed, 1)
    print(f"  Daphne CPU      {cpu:.1f} s = {cpu / frames * 1000:.2f} ms per accepted frame "
          f"(the load generator: {load_cpu / frames * 1000:.2f} ms)")


if __name__ == "__main__":
    main()
