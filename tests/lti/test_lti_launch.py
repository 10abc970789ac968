"""The full LTI 1.3 launch against a simulated platform (tests/lti/conftest.py): login
initiation, launch validation, provisioning, deep linking and every refusal.

Nothing reaches the internet; the LMS is the only thing faked (STYLE.md).
"""

from __future__ import annotations

import time

import jwt
import pytest
from django.test import Client
from jwcrypto.jwk import JWK

from audit.models import AuditEvent
from exams.models import CourseStaff, Enrollment
from lms.lti.services import CUSTOM_EXAM_ID, ROLE_INSTRUCTOR, ROLE_TEACHING_ASSISTANT
from lms.lti.views import launch_url
from lms.models import LtiContext
from tests import factories as f
from tests.lti.conftest import CLAIM, CLIENT_ID, DL_CLAIM, ISSUER, launch, login


def test_login_initiation_redirects_to_the_platform_with_state_and_nonce(registration):
    auth = login(Client())
    assert auth["client_id"] == CLIENT_ID
    assert auth["redirect_uri"] == launch_url()
    assert auth["response_type"] == "id_token"
    assert auth["response_mode"] == "form_post"
    assert auth["scope"] == "openid"
    assert auth["login_hint"] == "lms-user-42"
    assert auth["state"] and auth["nonce"]


def test_login_from_an_unregistered_platform_is_refused(registration):
    response = Client().get("/lti/login/", {"iss": "https://evil.test", "login_hint": "x"})
    assert response.status_code == 400
    assert b"No single active LTI registration" in response.content


def test_learner_launch_provisions_user_course_and_enrolment(platform, registration, exam):
    client = Client()
    auth = login(client)
    token = platform.id_token(auth["nonce"])
    response = launch(client, token, auth["state"])
    assert response.status_code == 302, response.content
    assert response["Location"] == "/exams/"
    link = LtiContext.objects.get(registration=registration, context_id="course-ctx-7")
    assert link.course.institution == registration.institution
    assert link.course.code == "PHY200"
    enrollment = Enrollment.objects.get(course=link.course)
    assert enrollment.external_id == "lms-user-42"
    user = enrollment.student
    assert (user.first_name, user.email, user.is_staff) == ("Lena", "lena@example.org", False)
    assert not user.has_usable_password()
    assert int(client.session["_auth_user_id"]) == user.pk
    assert AuditEvent.objects.filter(action="lti.launch", actor=user).exists()

    # A second launch (new login, new nonce) finds the same user and course.
    auth = login(client)
    assert launch(client, platform.id_token(auth["nonce"]), auth["state"]).status_code == 302
    assert Enrollment.objects.filter(student=user).count() == 1


def test_instructor_and_assistant_become_course_staff(platform, registration):
    client = Client()
    auth = login(client)
    token = platform.id_token(
        auth["nonce"], sub="teacher-1", **{f"{CLAIM}roles": [ROLE_INSTRUCTOR]}
    )
    assert launch(client, token, auth["state"]).status_code == 302
    auth = login(client)
    token = platform.id_token(
        auth["nonce"], sub="ta-1", **{f"{CLAIM}roles": [ROLE_TEACHING_ASSISTANT]}
    )
    assert launch(client, token, auth["state"]).status_code == 302
    roles = dict(CourseStaff.objects.values_list("user__lti_identities__subject", "role"))
    assert roles == {"teacher-1": "instructor", "ta-1": "reviewer"}


def test_launch_never_takes_over_a_local_account_with_the_same_email(
    platform, registration, reviewer
):
    client = Client()
    auth = login(client)
    token = platform.id_token(auth["nonce"], email=reviewer.email, sub=reviewer.username)
    assert launch(client, token, auth["state"]).status_code == 302
    assert int(client.session["_auth_user_id"]) != reviewer.pk


def test_bad_signature_is_refused(platform, registration):
    client = Client()
    auth = login(client)
    impostor = JWK.generate(kty="RSA", size=2048).export_to_pem(private_key=True, password=None)
    response = launch(client, platform.id_token(auth["nonce"], key_pem=impostor), auth["state"])
    assert response.status_code == 400
    assert b"Signature verification failed" in response.content
    assert "_auth_user_id" not in client.session
    assert AuditEvent.objects.filter(action="lti.launch.refused").exists()


def test_wrong_audience_is_refused(platform, registration):
    # Registered under another client id too, so the audience alone is what is wrong.
    client = Client()
    auth = login(client)
    token = platform.id_token(auth["nonce"], aud=[CLIENT_ID, "someone-else"])
    response = launch(client, token, auth["state"])
    assert response.status_code == 400
    assert b"azp" in response.content
    auth = login(client)
    response = launch(client, platform.id_token(auth["nonce"], aud="someone-else"), auth["state"])
    assert response.status_code == 400
    assert "_auth_user_id" not in client.session


def test_replayed_launch_is_refused(platform, registration):
    client = Client()
    auth = login(client)
    token = platform.id_token(auth["nonce"])
    assert launch(client, token, auth["state"]).status_code == 302
    replay = Client()
    replay.cookies = client.cookies
    response = launch(replay, token, auth["state"])
    assert response.status_code == 400
    assert b"Invalid Nonce" in response.content


def test_unknown_nonce_and_missing_state_are_refused(platform, registration):
    client = Client()
    auth = login(client)
    response = launch(client, platform.id_token("made-up-nonce"), auth["state"])
    assert response.status_code == 400
    assert b"Invalid Nonce" in response.content
    auth = login(client)
    response = launch(client, platform.id_token(auth["nonce"]), "state-forged")
    assert response.status_code == 400
    assert b"State not found" in response.content


def test_expired_token_and_unknown_deployment_are_refused(platform, registration):
    client = Client()
    auth = login(client)
    old = int(time.time()) - 3600
    response = launch(client, platform.id_token(auth["nonce"], iat=old, exp=old + 60),
                       auth["state"])
    assert response.status_code == 400
    assert b"expired" in response.content
    auth = login(client)
    token = platform.id_token(auth["nonce"], **{f"{CLAIM}deployment_id": "other"})
    response = launch(client, token, auth["state"])
    assert response.status_code == 400
    assert b"Unable to find deployment" in response.content


def test_deep_linking_lets_an_instructor_pick_an_exam(platform, registration):
    client = Client()
    auth = login(client)
    return_url = f"{ISSUER}/mod/lti/contentitem_return.php"
    token = platform.id_token(
        auth["nonce"], sub="teacher-1",
        **{
            f"{CLAIM}roles": [ROLE_INSTRUCTOR],
            f"{CLAIM}message_type": "LtiDeepLinkingRequest",
            f"{DL_CLAIM}deep_linking_settings": {
                "deep_link_return_url": return_url,
                "accept_types": ["ltiResourceLink"],
                "accept_presentation_document_targets": ["window", "iframe"],
                "data": "opaque-123",
            },
        },
    )
    response = launch(client, token, auth["state"])
    assert response.status_code == 302
    assert response["Location"] == "/lti/deep-link/"
    course = LtiContext.objects.get(context_id="course-ctx-7").course
    exam = f.ExamFactory(course=course, title="Quantum quiz")
    f.ExamFactory(title="Someone else's exam")
    page = client.get("/lti/deep-link/")
    assert b"Quantum quiz" in page.content
    assert b"Someone else" not in page.content

    response = client.post("/lti/deep-link/", {"exam": exam.pk})
    assert response.status_code == 200
    html = response.content.decode()
    assert f'action="{return_url}"' in html
    signed = html.split('name="JWT" value="')[1].split('"')[0]
    tool_key = JWK.from_pem(registration.tool_public_key.encode()).export_to_pem()
    message = jwt.decode(signed, tool_key, algorithms=["RS256"], audience=ISSUER)
    assert jwt.get_unverified_header(signed)["kid"] == registration.tool_key_id
    assert message[f"{CLAIM}message_type"] == "LtiDeepLinkingResponse"
    assert message[f"{DL_CLAIM}data"] == "opaque-123"
    (item,) = message[f"{DL_CLAIM}content_items"]
    assert item["custom"] == {CUSTOM_EXAM_ID: str(exam.pk)}
    assert item["url"] == launch_url()

    # The link then opens that exam; a student is sent to their exam list.
    auth = login(client)
    token = platform.id_token(auth["nonce"], **{f"{CLAIM}custom": {CUSTOM_EXAM_ID: str(exam.pk)}})
    assert launch(client, token, auth["state"])["Location"] == "/exams/"


def test_learner_cannot_deep_link(platform, registration):
    client = Client()
    auth = login(client)
    token = platform.id_token(
        auth["nonce"],
        **{
            f"{CLAIM}message_type": "LtiDeepLinkingRequest",
            f"{DL_CLAIM}deep_linking_settings": {
                "deep_link_return_url": f"{ISSUER}/return",
                "accept_types": ["ltiResourceLink"],
                "accept_presentation_document_targets": ["window"],
            },
        },
    )
    assert launch(client, token, auth["state"]).status_code == 403
    assert client.get("/lti/deep-link/").status_code == 400


def test_link_to_an_exam_of_another_course_is_refused(platform, registration, exam):
    client = Client()
    auth = login(client)
    token = platform.id_token(auth["nonce"], **{f"{CLAIM}custom": {CUSTOM_EXAM_ID: str(exam.pk)}})
    response = launch(client, token, auth["state"])
    assert response.status_code == 400
    assert b"not an exam of" in response.content


def test_jwks_publishes_the_tools_public_key_only(client, registration):
    keys = client.get("/lti/jwks/").json()["keys"]
    assert [k["kid"] for k in keys] == [registration.tool_key_id]
    assert {"n", "e"} <= set(keys[0]) and "d" not in keys[0]


def test_first_launch_uses_the_account_the_enrolment_sync_made(platform, registration, course):
    from lms.api.services import enrollment_sync

    enrollment_sync(
        course=course, rows=[{"username": "lena", "external_id": "lms-user-42"}], actor=None
    )
    client = Client()
    auth = login(client)
    assert launch(client, platform.id_token(auth["nonce"]), auth["state"]).status_code == 302
    lena = Enrollment.objects.get(course=course).student
    assert int(client.session["_auth_user_id"]) == lena.pk
    assert lena.username == "lena"


@pytest.mark.parametrize(
    "form",
    [{}, {"state": "x"}, {"id_token": "x", "state": "x"}, {"id_token": "a.b.c", "state": "x"},
     {"id_token": "e30.e30.e30", "state": "x"}],
)
def test_garbage_launches_are_refused_not_crashed(registration, form):
    response = Client().post("/lti/launch/", form)
    assert response.status_code == 400
    assert b"refused" in response.content


def test_launch_is_post_only_and_login_needs_an_issuer(registration):
    assert Client().get("/lti/launch/").status_code == 405
    assert Client().get("/lti/login/").status_code == 400


def test_launch_targeting_another_site_is_refused(platform, registration):
    client = Client()
    auth = login(client)
    token = platform.id_token(
        auth["nonce"], **{f"{CLAIM}target_link_uri": "https://elsewhere.example/launch"}
    )
    response = launch(client, token, auth["state"])
    assert response.status_code == 400
    assert b"not on this site" in response.content
