"""The receipts admin: operators find quarantined messages; course staff see nothing."""

from __future__ import annotations

import pytest
from django.test import Client

from monitoring import services
from tests import factories as f


@pytest.mark.django_db
def test_only_superusers_see_quarantined_receipts(session, reviewer):
    services.receipt_reject(session_id=session.pk, stream="frame", seq=3, actor=None,
                            reason="The frame is not an image.", code="not_an_image")
    admin_user = f.UserFactory(username="root", is_staff=True, is_superuser=True)
    url = "/admin/monitoring/receipt/?quarantined=yes"
    client = Client()
    client.force_login(admin_user)
    response = client.get(url, secure=True)
    assert response.status_code == 200
    assert "alice · Midterm" in response.content.decode()
    client.force_login(reviewer)
    assert client.get(url, secure=True).status_code == 403
