"""The admin shows checkpoints and spooled frames read-only, scoped like the history."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone

from integrity.services import integrity_append, integrity_checkpoint_create
from monitoring.models import SpooledEvidence
from tests import factories as f


@pytest.fixture(autouse=True)
def _plain_http(settings):
    settings.SECURE_SSL_REDIRECT = False


def test_a_superuser_lists_checkpoints_but_cannot_change_them(client, session):
    integrity_append(kind="test.entry", session=session)
    checkpoint = integrity_checkpoint_create()
    client.force_login(f.UserFactory(username="root", is_staff=True, is_superuser=True))
    listing = client.get(reverse("admin:integrity_integritycheckpoint_changelist"))
    assert listing.status_code == 200
    assert bytes(checkpoint.root_hash).hex() in listing.content.decode()
    change = reverse("admin:integrity_integritycheckpoint_change", args=[checkpoint.pk])
    assert client.post(change, {"tree_size": 0}).status_code == 403


def test_course_staff_without_the_permission_cannot_list_checkpoints(client, reviewer):
    client.force_login(reviewer)
    response = client.get(reverse("admin:integrity_integritycheckpoint_changelist"))
    assert response.status_code == 403


def test_spooled_frames_are_listed_only_within_scope(client, session, outsider):
    SpooledEvidence.objects.create(
        session=session, seq=1, captured_at=timezone.now(), object_name="evidence/x/1.jpg",
        content_type="image/jpeg", sha256="0" * 64, size_bytes=1, spool_file="a.spool",
    )
    root = f.UserFactory(username="root", is_staff=True, is_superuser=True)
    url = reverse("admin:monitoring_spooledevidence_changelist")
    client.force_login(root)
    assert "1 spooled evidence" in client.get(url).content.decode()
    outsider.user_permissions.add(Permission.objects.get(codename="view_spooledevidence"))
    client.force_login(outsider)
    assert "0 spooled evidence" in client.get(url).content.decode()
