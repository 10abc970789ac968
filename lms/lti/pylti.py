"""pylti1p3 2.0.0 adapted to Proctor: registrations from our DB, and its gaps closed.

Checked with Django 5.2: pylti1p3's Django contrib imports and works (it only uses
HttpResponse, redirect and the cache). What it does not do, and this module does:

* it decodes the id_token with ``verify_aud`` off (MessageLaunch.__init__), so the
  audience and the issuer are verified here, with ``exp``/``iat`` required and RS256 only;
* its nonce check only asks whether the nonce was issued, so a captured launch could be
  replayed: here a nonce is deleted when used (one launch per login);
* it fetches the platform's JWKS with no timeout: here requests time out;
* ``ToolConfAbstract.issuers_relation_types`` is a class-level dict shared by every
  instance: ours sets its own;
* it does not check that ``target_link_uri`` points at this tool: here it must.
"""

from __future__ import annotations

import typing as t

import jwt
import requests
from django.conf import settings
from pylti1p3.contrib.django import DjangoCacheDataStorage, DjangoMessageLaunch
from pylti1p3.contrib.django.session import DjangoSessionService
from pylti1p3.deployment import Deployment
from pylti1p3.exception import LtiException
from pylti1p3.registration import Registration
from pylti1p3.tool_config.abstract import ToolConfAbstract

from lms.models import LtiRegistration

# Clock skew allowed between the platform and us when checking exp/iat.
LEEWAY_S = 60


class ProctorToolConf(ToolConfAbstract):
    """Reads the LMS registrations from LtiRegistration rows (managed in the admin)."""

    def __init__(self) -> None:
        super().__init__()
        self.issuers_relation_types = {}
        self.registration_row: LtiRegistration | None = None

    def check_iss_has_one_client(self, iss: str) -> bool:
        return False

    def check_iss_has_many_clients(self, iss: str) -> bool:
        return True

    def row(self, iss: str, client_id: str | None) -> LtiRegistration:
        if self.registration_row is not None and self.registration_row.issuer == iss and (
            client_id is None or self.registration_row.client_id == client_id
        ):
            return self.registration_row
        rows = LtiRegistration.objects.filter(issuer=iss, is_active=True).select_related(
            "institution"
        )
        if client_id:
            rows = rows.filter(client_id=client_id)
        found = list(rows[:2])
        if len(found) != 1:
            raise LtiException(
                f"No single active LTI registration for issuer {iss!r} and client id "
                f"{client_id!r}; an institution admin registers the LMS in the admin."
            )
        self.registration_row = found[0]
        return found[0]

    def find_registration_by_issuer(self, iss: str, *args: t.Any, **kwargs: t.Any) -> Registration:
        return self.find_registration_by_params(iss, None)

    def find_registration_by_params(
        self, iss: str, client_id: str | None, *args: t.Any, **kwargs: t.Any
    ) -> Registration:
        row = self.row(iss, client_id)
        return (
            Registration()
            .set_issuer(row.issuer)
            .set_client_id(row.client_id)
            .set_auth_login_url(row.auth_login_url)
            .set_auth_token_url(row.auth_token_url)
            .set_auth_audience(row.auth_audience or None)  # type: ignore[arg-type]
            .set_key_set_url(row.key_set_url)
            .set_tool_private_key(row.tool_private_key)
            .set_tool_public_key(row.tool_public_key)
        )

    def find_deployment(self, iss: str, deployment_id: str) -> Deployment | None:
        return self.find_deployment_by_params(iss, deployment_id, None)

    def find_deployment_by_params(
        self, iss: str, deployment_id: str, client_id: str | None, *args: t.Any,
        **kwargs: t.Any,
    ) -> Deployment | None:
        row = self.row(iss, client_id)
        if deployment_id not in row.deployment_ids:
            return None
        return Deployment().set_deployment_id(deployment_id)

    def get_jwks(
        self, iss: str | None = None, client_id: str | None = None, **kwargs: t.Any
    ) -> dict[str, list[t.Any]]:
        rows = LtiRegistration.objects.filter(is_active=True).exclude(tool_public_key="")
        keys, seen = [], set()
        for public_key in rows.values_list("tool_public_key", flat=True):
            if public_key not in seen:
                seen.add(public_key)
                keys.append(Registration.get_jwk(public_key))
        return {"keys": keys}


class ProctorLaunchDataStorage(DjangoCacheDataStorage):
    """Launch state in the shared cache (Redis in production), so that login and launch
    may be served by different processes."""

    def set_value(self, key: str, value: t.Any, exp: int | None = None) -> None:
        # pylti1p3 keeps launch state for a day by default; ours lives LTI_LAUNCH_LIFETIME_S.
        lifetime = settings.LTI_LAUNCH_LIFETIME_S
        super().set_value(key, value, min(exp or lifetime, lifetime))

    def pop_value(self, key: str) -> bool:
        """Delete ``key``; True when it existed. Atomic in Redis and LocMem, so two
        concurrent launches with one nonce cannot both succeed."""
        return bool(self._get_cache().delete(self._prepare_key(key)))


class OneTimeNonceSessionService(DjangoSessionService):
    def check_nonce(self, nonce: str) -> bool:
        storage = self.data_storage
        if isinstance(storage, ProctorLaunchDataStorage):
            return storage.pop_value(self._get_key("nonce", nonce))
        raise LtiException("Nonces need ProctorLaunchDataStorage to be used once only.")


class TimeoutSession(requests.Session):
    """A requests session whose every call times out (the JWKS fetch had none)."""

    def request(  # type: ignore[override]
        self, method: str, url: str, *args: t.Any, **kwargs: t.Any
    ) -> requests.Response:
        kwargs.setdefault("timeout", settings.LTI_HTTP_TIMEOUT_S)
        return super().request(method, url, *args, **kwargs)


class ProctorMessageLaunch(DjangoMessageLaunch):
    def validate_jwt_signature(self) -> ProctorMessageLaunch:
        assert self._registration is not None
        public_key, _alg = self.get_public_key()
        client_id = self._registration.get_client_id()
        try:
            jwt.decode(
                self._get_id_token(),
                public_key,
                algorithms=["RS256"],  # LTI 1.3 (Security Framework 5.1.3) requires RS256
                audience=client_id,
                issuer=self._registration.get_issuer(),
                leeway=LEEWAY_S,
                options={"require": ["exp", "iat", "iss", "aud", "sub", "nonce"]},
            )
        except jwt.InvalidTokenError as exc:
            raise LtiException(f"The id_token was refused: {exc}") from exc
        body = self._get_jwt_body()
        audiences = body["aud"] if isinstance(body["aud"], list) else [body["aud"]]
        if len(audiences) > 1 and body.get("azp") != client_id:
            # OpenID Connect Core 3.1.3.7: several audiences need an azp naming us.
            raise LtiException("The id_token has several audiences and no azp naming us.")
        return self


    def validate_message(self) -> ProctorMessageLaunch:
        super().validate_message()
        # LTI 1.3 core 5.1.3.7: the tool checks that target_link_uri is one of its own.
        target = self._get_jwt_body().get(
            "https://purl.imsglobal.org/spec/lti/claim/target_link_uri"
        )
        site = settings.SITE_URL.rstrip("/") + "/"
        if target and not str(target).startswith(site):
            raise LtiException(
                f"The launch targets {target!r}, which is not on this site ({site})."
            )
        return self


def new_launch_storage() -> ProctorLaunchDataStorage:
    return ProctorLaunchDataStorage(cache_name="default")
