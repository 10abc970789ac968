"""LTI launches with the production cache: Redis holds login state and one-time nonces."""

from __future__ import annotations

import pytest
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from django.test import Client

from lms.lti.pylti import new_launch_storage
from tests.lti.conftest import launch, login

pytestmark = pytest.mark.integration


def test_nonce_pop_is_once_only_in_redis():
    assert isinstance(caches["default"], RedisCache)
    storage = new_launch_storage()
    storage.set_value("lti1p3-nonce-abc", True)
    assert storage.pop_value("lti1p3-nonce-abc") is True
    assert storage.pop_value("lti1p3-nonce-abc") is False


def test_launch_and_replay_with_state_in_redis(platform, registration):
    client = Client()
    auth = login(client)
    token = platform.id_token(auth["nonce"])
    assert launch(client, token, auth["state"]).status_code == 302
    response = launch(client, token, auth["state"])
    assert response.status_code == 400
    assert b"Invalid Nonce" in response.content
