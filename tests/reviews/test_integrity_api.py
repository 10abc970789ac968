"""The integrity endpoints: who may read a session's proofs, and what they get."""

from __future__ import annotations

import pytest
from django.urls import reverse

from integrity import merkle
from integrity.models import IntegrityLeaf
from integrity.services import integrity_append, integrity_checkpoint_create


@pytest.fixture(autouse=True)
def _plain_http(settings):
    settings.SECURE_SSL_REDIRECT = False  # the test client speaks plain HTTP


@pytest.fixture
def checkpointed(session):
    for _ in range(3):
        integrity_append(kind="test.entry", session=session)
    integrity_append(kind="test.entry")
    return integrity_checkpoint_create()


def _proof_url(session):
    return reverse("integrity:session_proof", args=[session.pk])


@pytest.mark.parametrize("user", ["student", "reviewer", "instructor", "institution_admin"])
def test_people_who_may_see_the_session_get_its_inclusion_proofs(
    client, request, session, checkpointed, user
):
    client.force_login(request.getfixturevalue(user))
    response = client.get(_proof_url(session))
    assert response.status_code == 200
    bundle = response.json()
    assert bundle["checkpoint"]["tree_size"] == 4
    for entry in bundle["entries"]:
        merkle.verify_inclusion(
            entry["index"], 4, merkle.leaf_hash(entry["body"].encode()),
            [bytes.fromhex(node) for node in entry["proof"]], bytes(checkpointed.root_hash),
        )


def test_reading_a_proof_is_itself_logged(client, student, session, checkpointed):
    client.force_login(student)
    client.get(_proof_url(session))
    assert IntegrityLeaf.objects.filter(session_id=session.pk).count() == 4


@pytest.mark.parametrize("user", ["other_student", "outsider"])
def test_others_get_not_found_and_the_attempt_is_audited(
    client, request, session, checkpointed, user
):
    from audit.models import AuditEvent

    person = request.getfixturevalue(user)
    client.force_login(person)
    assert client.get(_proof_url(session)).status_code == 404
    refused = AuditEvent.objects.get(action="integrity.proof.view.refused", actor=person)
    assert refused.target == f"session:{session.pk}"
    assert refused.session is None  # the trail does not link them to the session either


def test_anonymous_users_must_sign_in(client, session, checkpointed):
    assert client.get(_proof_url(session)).status_code == 401


def test_latest_checkpoint_and_consistency_proof(client, student, session, checkpointed):
    client.force_login(student)
    checkpoint = client.get(reverse("integrity:checkpoint")).json()
    assert checkpoint["tree_size"] == 4
    assert checkpoint["signed_text"].startswith("proctor.localhost/integrity\n4\n")
    proof = client.get(reverse("integrity:consistency"), {"from": 1, "to": 4}).json()
    assert len(proof["proof"]) == 2
    bad = client.get(reverse("integrity:consistency"), {"from": 3, "to": 9})
    assert bad.status_code == 400
    assert "to <= 4" in bad.json()["error"]["message"]


def test_a_sessions_proofs_are_computed_once_per_checkpoint(
    session, checkpointed, django_assert_max_num_queries
):
    from integrity.services import integrity_append, integrity_session_bundle_latest

    first = integrity_session_bundle_latest(session_id=session.pk)
    with django_assert_max_num_queries(1):  # the latest checkpoint's row, then the cache
        assert integrity_session_bundle_latest(session_id=session.pk) == first
    integrity_append(kind="test.entry", session=session)
    integrity_checkpoint_create()
    fresh = integrity_session_bundle_latest(session_id=session.pk)
    assert fresh["checkpoint"]["tree_size"] == 5
    assert len(fresh["entries"]) == 4
