"""Admin for API keys, webhooks and LTI registrations: institution admins manage their own."""

from __future__ import annotations

from django.contrib.messages import get_messages

from lms.api.services import api_key_authenticate, api_key_create
from lms.models import ApiKey, LtiRegistration
from tests import factories as f
from tests.api.conftest import user_client


def test_institution_admin_creates_a_key_and_sees_it_once(institution, institution_admin):
    client = user_client(institution_admin)
    response = client.post(
        "/admin/lms/apikey/add/",
        {"institution": institution.pk, "name": "Moodle", "scopes": ["read"]},
    )
    assert response.status_code == 302, response.content
    (message,) = [
        str(m) for m in get_messages(response.wsgi_request) if "new API key" in str(m)
    ]
    raw = message.split("The new API key is ")[1].split(" ")[0]
    key = api_key_authenticate(raw_key=raw)
    assert (key.name, key.scopes, key.created_by) == ("Moodle", ["read"], institution_admin)
    client.get("/admin/lms/apikey/")  # the page that shows the message, once
    assert raw not in client.get(f"/admin/lms/apikey/{key.pk}/change/").content.decode()


def test_revoke_action_revokes(institution, institution_admin):
    key, _ = api_key_create(institution=institution, name="Old", scopes=["read"])
    user_client(institution_admin).post(
        "/admin/lms/apikey/", {"action": "revoke", "_selected_action": [key.pk]}
    )
    key.refresh_from_db()
    assert key.is_revoked


def test_other_institutions_keys_are_invisible(institution, outsider, instructor):
    other = f.InstitutionFactory()
    admin = f.UserFactory(username="otto", is_staff=True)
    f.InstitutionMembershipFactory(institution=other, user=admin)
    key, _ = api_key_create(institution=institution, name="Ours", scopes=["read"])
    assert user_client(admin).get(f"/admin/lms/apikey/{key.pk}/change/").status_code in {
        302, 403, 404
    }
    assert b"Ours" not in user_client(admin).get("/admin/lms/apikey/").content
    # Course staff are not institution admins: no keys at all.
    assert user_client(instructor).get("/admin/lms/apikey/").status_code == 403


def test_lti_registration_gets_a_key_pair_on_save(institution, institution_admin):
    response = user_client(institution_admin).post(
        "/admin/lms/ltiregistration/add/",
        {
            "institution": institution.pk, "name": "Canvas", "issuer": "https://canvas.test",
            "client_id": "1000", "deployment_ids": '["1:abc"]',
            "auth_login_url": "https://canvas.test/api/lti/authorize_redirect",
            "auth_token_url": "https://canvas.test/login/oauth2/token",
            "key_set_url": "https://canvas.test/api/lti/security/jwks", "is_active": "on",
        },
    )
    assert response.status_code == 302, response.content
    registration = LtiRegistration.objects.get()
    assert registration.tool_private_key.startswith("-----BEGIN PRIVATE KEY-----")
    assert registration.tool_key_id
    page = user_client(institution_admin).get(
        f"/admin/lms/ltiregistration/{registration.pk}/change/"
    ).content.decode()
    assert "/lti/jwks/" in page and "PRIVATE KEY" not in page
    assert ApiKey.objects.count() == 0


def test_webhook_needs_https_and_gets_a_secret(institution, institution_admin, settings):
    from lms.models import WebhookEndpoint

    settings.PROCTOR_WEBHOOK_ALLOW_PRIVATE = False
    client = user_client(institution_admin)
    form = {"institution": institution.pk, "url": "http://93.184.216.34/hook",
            "is_active": "on"}
    response = client.post("/admin/lms/webhookendpoint/add/", form)
    assert response.status_code == 200
    assert "use an https:// address" in response.content.decode()
    form["url"] = "https://93.184.216.34/hook"
    assert client.post("/admin/lms/webhookendpoint/add/", form).status_code == 302
    assert len(WebhookEndpoint.objects.get().secret) >= 40


def test_webhook_to_an_internal_address_is_refused_with_the_reason(
    institution, institution_admin, settings
):
    from lms.models import WebhookEndpoint

    settings.PROCTOR_WEBHOOK_ALLOW_PRIVATE = False
    client = user_client(institution_admin)
    for url, why in [
        ("https://169.254.169.254/latest/meta-data/", "169.254.169.254 is a link-local address"),
        ("https://localhost/hook", "localhost resolves to 127.0.0.1, a loopback address"),
        ("https://[fd00::1]/hook", "fd00::1 is a unique local address"),
    ]:
        response = client.post(
            "/admin/lms/webhookendpoint/add/",
            {"institution": institution.pk, "url": url, "is_active": "on"},
        )
        assert response.status_code == 200
        assert why in response.content.decode()
    assert not WebhookEndpoint.objects.exists()
