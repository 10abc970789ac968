"""Fixtures for the REST API: keys of every kind and a world of own and foreign rows.

``course`` (institution "demo") is the cast's course. ``sibling_course`` is another
course of the same institution that none of the cast staffs; ``foreign_course`` belongs
to another institution. Each has an exam, a session, an incident and a decision.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.core.cache import cache
from django.test import Client

from exams.api.services import api_key_create, api_key_revoke
from exams.models import Course, Exam, ExamSession
from reviews.models import Incident, ReviewDecision
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
