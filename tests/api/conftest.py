"""Fixtures for the REST API: keys of every kind and a world of own and foreign rows.

``course`` (institution "demo") is the cast's course. ``sibling_course`` is another
course of the same institution that none of the cast staffs; ``foreign_course`` belongs
to another institution. Each has an exam, a session, an incident and a decision.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass, field

import pytest
from django.core.cache import cache
from django.test import Client

from exams.models import Course, Exam, ExamSession
from lms.api.services import api_key_create, api_key_revoke
from monitoring.models import Incident
from reviews.models import ReviewDecision
from tests import factories as f


@dataclass
class World:
    course: Course
    exam: Exam
    session: ExamSession
    incident: Incident
    decision: ReviewDecision


def _world(course: Course, student_name: str) -> World:
    exam = f.ExamFactory(course=course)
    student = f.UserFactory(username=student_name)
    f.EnrollmentFactory(course=course, student=student, external_id=f"lms-{student_name}")
    session = f.ExamSessionFactory(exam=exam, student=student)
    incident = f.IncidentFactory(session=session, payload=b'{"yaw_deg": 41.5}')
    decision = f.ReviewDecisionFactory(incident=incident)
    return World(course, exam, session, incident, decision)


@pytest.fixture
def own(course, exam, session):
    incident = f.IncidentFactory(session=session, payload=b'{"yaw_deg": 40.0}')
    decision = f.ReviewDecisionFactory(incident=incident)
    return World(course, exam, session, incident, decision)


@pytest.fixture
def sibling(institution):
    return _world(f.CourseFactory(institution=institution, code="CHEM1"), "sam")


@pytest.fixture
def foreign(db):
    other = f.InstitutionFactory(name="Elsewhere College", slug="elsewhere")
    return _world(f.CourseFactory(institution=other, code="BIO101"), "fay")


@pytest.fixture(autouse=True)
def _fresh_throttle_counts():
    # Rate-limit counters live in the cache; one test's calls must not throttle the next.
    cache.clear()
    yield
    cache.clear()


@dataclass
class FakeDns:
    """Answers for made-up host names, and the lookups made of them."""

    answers: dict[str, list[str]] = field(default_factory=dict)
    lookups: list[str] = field(default_factory=list)


@pytest.fixture
def dns(monkeypatch) -> FakeDns:
    """Stand in for the outside world's DNS: ``dns.answers["lms.example.org"] = [...]``.

    Only ``socket.getaddrinfo`` is replaced. IP literals still go to the real one (the
    HTTP client calls it for them too); other names do not resolve.
    """
    fake = FakeDns()
    real_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        try:
            ipaddress.ip_address(host)
        except ValueError:
            pass
        else:
            return real_getaddrinfo(host, port, *args, **kwargs)
        fake.lookups.append(host)
        if not fake.answers.get(host):
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        port = int(port or 0)
        return [
            (socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, port, 0, 0))
            if ":" in address
            else (socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))
            for address in fake.answers[host]
        ]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return fake


def _key(institution, scopes):
    return api_key_create(institution=institution, name=f"LMS {scopes}", scopes=scopes)[1]


@pytest.fixture
def rw_key(institution):
    return _key(institution, ["read", "write", "incident_payload"])


@pytest.fixture
def read_key(institution):
    return _key(institution, ["read"])


@pytest.fixture
def foreign_key(foreign):
    return _key(foreign.course.institution, ["read", "write", "incident_payload"])


@pytest.fixture
def revoked_key(institution):
    key, raw = api_key_create(institution=institution, name="Old LMS", scopes=["read", "write"])
    api_key_revoke(api_key=key, actor=None)
    return raw


def key_client(raw_key: str) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {raw_key}")


def user_client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client
