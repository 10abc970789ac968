"""The fixed cast of every test: two students, a course's staff, an outsider (hc/test.py).

``course`` has one open exam; ``student`` and ``other_student`` are enrolled in it;
``reviewer`` and ``instructor`` staff it; ``outsider`` is staff of another institution's
course; ``institution_admin`` administers the course's institution.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group

from exams import roles
from exams.models import CourseStaff
from tests import factories as f


def _in_group(user, name):
    roles.ensure_groups()
    user.groups.add(Group.objects.get(name=name))
    return user


@pytest.fixture
def institution(db):
    return f.InstitutionFactory(name="Demo University", slug="demo")


@pytest.fixture
def course(institution):
    return f.CourseFactory(institution=institution, code="BIO101", title="Biology")


@pytest.fixture
def exam(course):
    return f.ExamFactory(course=course, title="Midterm")


@pytest.fixture
def student(course):
    user = _in_group(f.UserFactory(username="alice"), roles.STUDENTS)
    f.EnrollmentFactory(course=course, student=user)
    return user


@pytest.fixture
def other_student(course):
    user = _in_group(f.UserFactory(username="bob"), roles.STUDENTS)
    f.EnrollmentFactory(course=course, student=user)
    return user


@pytest.fixture
def reviewer(course):
    user = _in_group(f.UserFactory(username="rita", is_staff=True), roles.REVIEWERS)
    f.CourseStaffFactory(course=course, user=user, role=CourseStaff.Role.REVIEWER)
    return user


@pytest.fixture
def instructor(course):
    user = _in_group(f.UserFactory(username="ivan", is_staff=True), roles.INSTRUCTORS)
    f.CourseStaffFactory(course=course, user=user, role=CourseStaff.Role.INSTRUCTOR)
    return user


@pytest.fixture
def institution_admin(institution):
    user = _in_group(f.UserFactory(username="ines", is_staff=True), roles.INSTITUTION_ADMINS)
    f.InstitutionMembershipFactory(institution=institution, user=user)
    return user


@pytest.fixture
def outsider(db):
    """Staff of a course at another institution: must see nothing of ``course``."""
    user = _in_group(f.UserFactory(username="oscar", is_staff=True), roles.REVIEWERS)
    f.CourseStaffFactory(user=user, role=CourseStaff.Role.REVIEWER)
    return user


@pytest.fixture
def session(exam, student):
    return f.ExamSessionFactory(exam=exam, student=student)


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix):
    """Let Django flush the append-only integrity tables between transactional tests.

    Their PostgreSQL triggers refuse TRUNCATE unless the session sets this option (see
    reviews/migrations/0007_integrity_log_append_only.py); UPDATE and DELETE stay refused.
    """
    from django.db import connections

    for alias in connections:
        settings_dict = connections[alias].settings_dict
        if settings_dict["ENGINE"].endswith("postgresql"):
            options = settings_dict.setdefault("OPTIONS", {})
            extra = "-c proctor.integrity_allow_truncate=on"
            options["options"] = f"{options.get('options', '')} {extra}".strip()


@pytest.fixture(autouse=True)
def _test_settings(settings):
    # The cast logs in a lot; a slow hasher would dominate the suite's run time.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # Tests run with DEBUG off (production-like) but over plain HTTP.
    settings.SECURE_SSL_REDIRECT = False
    # No collectstatic before tests: serve static names unhashed.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


def pytest_collection_modifyitems(config, items):
    """Integration tests need the real PostgreSQL and Redis; `make test` provides them.

    Run alone on the embedded default (SQLite), they are skipped with the reason, so a
    plain `pytest` still works on a laptop without the services.
    """
    from django.conf import settings

    on_postgres = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")
    has_redis = bool(settings.REDIS_URL)
    skip = pytest.mark.skip(
        reason="needs DATABASE_URL=postgres://… and REDIS_URL=redis://… (make test sets both)"
    )
    for item in items:
        if "integration" in item.keywords and not (on_postgres and has_redis):
            item.add_marker(skip)
    # Browser tests last: Playwright's sync API keeps an event loop in the main thread,
    # which later async_to_sync calls in the same process would trip over.
    items.sort(key=lambda item: "e2e" in item.keywords)


@pytest.fixture(autouse=True)
def _test_keyring(settings, tmp_path):
    """Encryption at rest needs a key ring: tests get a fixed, obviously fake one, and files
    go to a per-test media folder. Cached data keys are forgotten after each test."""
    from privacy import keys

    settings.PROCTOR_KEYRING = {1: bytes(range(32))}
    settings.PROCTOR_KEYRING_ACTIVE = 0
    settings.MEDIA_ROOT = tmp_path / "media"
    yield
    keys.cache_evict()
