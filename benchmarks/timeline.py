"""Benchmark: render the review timeline of a session with 10,000 incidents.

Target: under 300 ms per page, with a number of queries that does not depend on
the number of incidents. Run from the repository root:

    python benchmarks/timeline.py [--incidents 10000] [--observations 3600] [--runs 15]

It builds a throwaway SQLite database in a temporary folder (or uses DATABASE_URL when
set, e.g. the PostgreSQL of `make test`; the data it adds is deleted afterwards), fills
one session, then times whole requests through Django's test client (middleware,
permission check, selectors, SVG, template) and prints the figures.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=10_000)
    parser.add_argument("--observations", type=int, default=3_600)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--profile", action="store_true", help="print the top functions")
    args = parser.parse_args()

    tmp = tempfile.mkdtemp(prefix="proctor-bench-")
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{tmp}/bench.sqlite3")
    os.environ.setdefault("PROCTOR_VAR_DIR", tmp)
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    Path(tmp, "static").mkdir()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "proctor_site.settings")

    import django

    django.setup()

    from django.core.management import call_command
    from django.db import connection
    from django.test import Client, override_settings
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse
    from django.utils import timezone

    from exams.models import CourseStaff, Enrollment, ExamSession
    from monitoring.models import Evidence, FrameObservation, Incident
    from tests import factories as f

    call_command("migrate", verbosity=0)
    kinds = [k for k in Incident.Kind.values]
    institution = f.InstitutionFactory(slug=f"bench-{int(time.time())}")
    course = f.CourseFactory(institution=institution)
    exam = f.ExamFactory(course=course, duration_min=180)
    student = f.UserFactory(username=f"bench-student-{institution.slug}")
    reviewer = f.UserFactory(username=f"bench-reviewer-{institution.slug}", is_staff=True)
    Enrollment.objects.create(course=course, student=student, disabled_checks=["speech"])
    CourseStaff.objects.create(course=course, user=reviewer, role=CourseStaff.Role.REVIEWER)
    start = timezone.now() - timedelta(hours=3)
    session = ExamSession.objects.create(
        exam=exam,
        student=student,
        state=ExamSession.State.SUBMITTED,
        started_at=start,
        deadline_at=start + timedelta(minutes=180),
        ended_at=start + timedelta(minutes=175),
    )
    step_s = 175 * 60 / args.incidents
    incidents = Incident.objects.bulk_create(
        (
            Incident(
                session=session,
                kind=kinds[i % len(kinds)],
                severity=("low", "medium", "high")[i % 3],
                started_at=start + timedelta(seconds=i * step_s),
                ended_at=start + timedelta(seconds=i * step_s + 4),
                score=0.4 + (i % 6) / 10,
            )
            for i in range(args.incidents)
        ),
        batch_size=2000,
    )
    Evidence.objects.bulk_create(
        (
            Evidence(session=session, incident=inc, seq=i, captured_at=inc.started_at,
                     image="evidence/bench.jpg")
            for i, inc in enumerate(incidents[::20])
        ),
        batch_size=2000,
    )
    obs_step = 175 * 60 / max(args.observations, 1)
    FrameObservation.objects.bulk_create(
        (
            FrameObservation(
                session=session,
                seq=i,
                captured_at=start + timedelta(seconds=i * obs_step),
                face_count=(1, 1, 1, 0, 2)[i % 5],
                yaw_deg=((i * 7) % 90) - 45.0,
                pitch_deg=((i * 3) % 40) - 20.0,
                gaze_x=((i % 10) - 5) / 10,
                gaze_y=0.1,
            )
            for i in range(args.observations)
        ),
        batch_size=2000,
    )

    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(reviewer)
    url = reverse("reviews:timeline", args=[session.pk])
    selected = incidents[len(incidents) // 2].pk
    timings_ms: list[float] = []
    cpu_ms: list[float] = []
    queries: set[int] = set()
    size = 0
    from django.conf import settings

    with override_settings(SECURE_SSL_REDIRECT=False, DEBUG=False, STORAGES={
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }):
        client.get(url)  # warm-up: template loading, URL resolver
        if args.profile:
            import cProfile
            import pstats

            profiler = cProfile.Profile(time.process_time)
            profiler.runcall(lambda: [client.get(url) for _ in range(5)])
            pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
        for run in range(args.runs):
            params = {"incident": selected} if run % 2 else {}
            with CaptureQueriesContext(connection) as ctx:
                t0, c0 = time.perf_counter(), time.process_time()
                response = client.get(url, params)
                timings_ms.append((time.perf_counter() - t0) * 1000)
                cpu_ms.append((time.process_time() - c0) * 1000)
            assert response.status_code == 200, response.status_code
            queries.add(len(ctx.captured_queries))
            size = len(response.content)

    timings_ms.sort()
    p95 = timings_ms[min(len(timings_ms) - 1, int(len(timings_ms) * 0.95))]
    print(f"database: {connection.vendor}")
    print(
        f"session with {args.incidents} incidents, {len(incidents[::20])} evidence images, "
        f"{args.observations} frame observations"
    )
    print(
        f"timeline page: median {statistics.median(timings_ms):.1f} ms, "
        f"p95 {p95:.1f} ms, min {timings_ms[0]:.1f} ms, max {timings_ms[-1]:.1f} ms "
        f"over {args.runs} requests"
    )
    print(
        f"CPU time of this process per request: median {statistics.median(cpu_ms):.1f} ms "
        "(the wall time above includes waiting for a core on a shared machine)"
    )
    print(f"queries per request: {sorted(queries)} (without / with an incident selected)")
    print(f"response size: {size / 1024:.0f} KiB")
    verdict = "PASS" if statistics.median(timings_ms) < 300 else "FAIL"
    print(f"target < 300 ms: {verdict}")

    if connection.vendor != "sqlite":
        ExamSession.objects.filter(pk=session.pk).delete()


if __name__ == "__main__":
    main()
