"""A platform (LMS) simulated for the LTI tests: its own RSA keys, its JWKS served by a
tiny HTTP server on localhost, and id_tokens it signs. Nothing reaches the internet.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import jwt
import pytest
from django.core.cache import cache
from django.test import Client
from jwcrypto.jwk import JWK

from lms.lti.services import ROLE_LEARNER, lti_registration_generate_keys
from lms.lti.views import launch_url
from lms.models import LtiRegistration

ISSUER = "https://lms.example.test"
CLIENT_ID = "proctor-tool-1"
CLAIM = "https://purl.imsglobal.org/spec/lti/claim/"
DL_CLAIM = "https://purl.imsglobal.org/spec/lti-dl/claim/"


class Platform:
    """The LMS side: keys, a JWKS URL and id_tokens signed like Moodle or Canvas would."""

    def __init__(self, jwks_url: str, key: JWK) -> None:
        self.jwks_url = jwks_url
        self.key = key
        self.private_pem = key.export_to_pem(private_key=True, password=None)

    def id_token(self, nonce: str, *, key_pem: bytes | None = None, **overrides) -> str:
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "aud": CLIENT_ID,
            "sub": "lms-user-42",
            "iat": now,
            "exp": now + 300,
            "nonce": nonce,
            "given_name": "Lena",
            "family_name": "Lerner",
            "email": "lena@example.org",
            f"{CLAIM}deployment_id": "deployment-1",
            f"{CLAIM}message_type": "LtiResourceLinkRequest",
            f"{CLAIM}version": "1.3.0",
            f"{CLAIM}roles": [ROLE_LEARNER],
            f"{CLAIM}resource_link": {"id": "link-1"},
            f"{CLAIM}target_link_uri": launch_url(),
            f"{CLAIM}context": {"id": "course-ctx-7", "label": "PHY200", "title": "Physics II"},
        }
        claims.update(overrides)
        return jwt.encode(
            claims, key_pem or self.private_pem, algorithm="RS256",
            headers={"kid": self.key["kid"]},
        )


@pytest.fixture(scope="module")
def platform_key() -> JWK:
    return JWK.generate(kty="RSA", size=2048, kid="platform-key-1")


@pytest.fixture
def platform(platform_key) -> Iterator[Platform]:
    jwks = json.dumps(
        {"keys": [{**json.loads(platform_key.export_public()), "alg": "RS256", "use": "sig"}]}
    ).encode()

    class JwksHandler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(jwks)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), JwksHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    cache.clear()
    yield Platform(f"http://127.0.0.1:{server.server_port}/jwks", platform_key)
    server.shutdown()
    server.server_close()
    cache.clear()


@pytest.fixture
def registration(platform, institution) -> LtiRegistration:
    row = LtiRegistration.objects.create(
        institution=institution,
        name="Moodle test",
        issuer=ISSUER,
        client_id=CLIENT_ID,
        auth_login_url=f"{ISSUER}/mod/lti/auth.php",
        auth_token_url=f"{ISSUER}/mod/lti/token.php",
        key_set_url=platform.jwks_url,
        deployment_ids=["deployment-1"],
    )
    return lti_registration_generate_keys(registration=row)


def login(client: Client) -> dict[str, str]:
    """Step 1 as the LMS does it; returns the auth request we are redirected with."""
    response = client.get(
        "/lti/login/",
        {
            "iss": ISSUER,
            "client_id": CLIENT_ID,
            "login_hint": "lms-user-42",
            "lti_message_hint": "hint-1",
            "target_link_uri": launch_url(),
            "lti_deployment_id": "deployment-1",
        },
    )
    assert response.status_code == 302, response.content
    location = urlparse(response["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == (
        f"{ISSUER}/mod/lti/auth.php"
    )
    return {k: v[0] for k, v in parse_qs(location.query).items()}


def launch(client: Client, token: str, state: str):
    return client.post("/lti/launch/", {"id_token": token, "state": state})
