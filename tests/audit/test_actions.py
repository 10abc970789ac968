"""The registry of audit actions (audit/actions.py) is the one list the trail writes."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from django.urls import reverse

from audit.actions import (
    ACTIONS,
    MAX_ACTION_CHARS,
    AuditAction,
    action_label,
    exported_action,
    incident_decided_action,
    session_transition_action,
    stream_duplicate_action,
    stream_quarantined_action,
    stream_rejected_action,
)
from audit.errors import UnknownAuditAction
from audit.models import AuditEvent
from audit.services import audit_record, export_record
from exams.services import TRANSITIONS
from integrity.models import IntegrityLeaf
from monitoring.models import Incident, Receipt
from tests import factories as f

ROOT = Path(__file__).resolve().parents[2]
APPS = ["audit", "exams", "integrity", "lifecycle", "lms", "monitoring", "privacy", "reviews"]

# Functions that take an audit action, and the argument that carries it (keyword, or
# position counting from 0 after ``self``).
TAKES_AN_ACTION = {
    "audit_record": ("action", None),
    "stream_refusal_record": ("action", None),
    "_audited_refusal": ("action", None),
    "_update": ("action", None),
    "_audit": ("action", 0),
    "_refuse": ("action", 1),
    "_error": ("audit", None),
}


def _action_arguments() -> list[tuple[str, ast.expr]]:
    found = []
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            if "migrations" in path.parts or path.name == "actions.py" and app == "audit":
                continue
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if not isinstance(node, ast.Call):
                    continue
                name = getattr(node.func, "attr", getattr(node.func, "id", None))
                if name not in TAKES_AN_ACTION:
                    continue
                keyword, position = TAKES_AN_ACTION[name]
                where = f"{path.relative_to(ROOT)}:{node.lineno}"
                for kw in node.keywords:
                    if kw.arg == keyword:
                        found.append((where, kw.value))
                if position is not None and len(node.args) > position:
                    found.append((where, node.args[position]))
    return found


def test_no_call_site_writes_a_string_literal():
    arguments = _action_arguments()
    assert len(arguments) > 60  # the scan finds the call sites
    literals = [
        f"{where}: {ast.unparse(value)}"
        for where, value in arguments
        if isinstance(value, ast.Constant | ast.JoinedStr | ast.BinOp)
        or isinstance(value, ast.IfExp)
        and any(isinstance(v, ast.Constant | ast.JoinedStr) for v in (value.body, value.orelse))
    ]
    assert literals == [], "name these actions with AuditAction (audit/actions.py)"


def test_every_action_has_a_label_and_a_description_and_fits_the_column():
    assert set(ACTIONS) == set(AuditAction)
    assert len({a.label for a in AuditAction}) == len(AuditAction)  # the filter tells them apart
    max_length = AuditEvent._meta.get_field("action").max_length
    assert max_length == MAX_ACTION_CHARS
    for action in AuditAction:
        assert action.label.strip() and action.description.endswith(".")
        assert len(action.value) <= max_length
        assert action.is_refusal == action.value.endswith(".refused")


def test_the_stored_strings_are_the_ones_written_before_the_registry():
    # Existing rows, the integrity log and other tests name these: never rename them.
    assert AuditAction.SESSION_START_REFUSED == "session.start.refused"
    assert AuditAction.PRIVACY_BREAK_GLASS_VIEW == "privacy.break_glass.view"
    assert session_transition_action("camera_check") == "session.camera_check"
    assert incident_decided_action("dismissed") == "review.incident_dismissed"
    assert exported_action("incidents") == "review.incidents_exported"
    assert stream_rejected_action("frame") == "stream.frame.rejected"
    assert stream_duplicate_action("event") == "stream.event.duplicate"
    assert stream_quarantined_action("frame") == "stream.frame.quarantined"


def test_the_mappings_cover_every_name_the_code_builds_actions_from():
    for name in TRANSITIONS:
        assert session_transition_action(name) in AuditAction
    for status in Incident.Status:
        if status != Incident.Status.PENDING:  # a decision never leaves one pending
            assert incident_decided_action(status) in AuditAction
    for stream in Receipt.Stream:
        for mapping in (stream_rejected_action, stream_duplicate_action,
                        stream_quarantined_action):
            assert mapping(stream) in AuditAction
    with pytest.raises(UnknownAuditAction, match=r"'pending'.*audit/actions\.py"):
        incident_decided_action("pending")


@pytest.mark.django_db
def test_an_unknown_action_is_refused_and_nothing_is_written(session):
    with pytest.raises(UnknownAuditAction) as caught:
        audit_record(actor=None, action="session.peek", session=session)
    message = str(caught.value)
    assert "'session.peek'" in message and "audit/actions.py" in message
    assert not AuditEvent.objects.exists()
    assert not IntegrityLeaf.objects.exists()


@pytest.mark.django_db
def test_an_unknown_export_is_refused(reviewer):
    with pytest.raises(UnknownAuditAction, match="'grades'"):
        export_record(actor=reviewer, what="grades", count=3)
    assert not AuditEvent.objects.exists()


@pytest.mark.django_db
def test_a_registered_action_is_stored_as_its_string(session):
    event = audit_record(actor=None, action=AuditAction.SESSION_VIEW_REFUSED, session=session)
    event.refresh_from_db()
    assert type(event.action) is str and event.action == "session.view.refused"
    leaf = IntegrityLeaf.objects.get()
    assert '"action":"session.view.refused"' in leaf.body


def test_a_row_from_before_the_registry_shows_as_itself():
    assert action_label("session.peek") == "session.peek"
    assert action_label("privacy.decrypt") == "Evidence decrypted"


@pytest.mark.django_db
def test_the_admin_filters_the_trail_by_label(client, session, course):
    admin = f.UserFactory(username="sue", is_staff=True, is_superuser=True)
    audit_record(actor=None, action=AuditAction.SESSION_START, session=session)
    audit_record(actor=None, action=AuditAction.PRIVACY_DECRYPT, session=session)
    AuditEvent.objects.create(action="legacy.thing", course=course)  # written before
    client.force_login(admin)
    url = reverse("admin:audit_auditevent_changelist")
    page = client.get(url).content.decode()
    assert "Session started" in page and "Evidence decrypted" in page  # filter and column
    assert "legacy.thing" in page
    assert "Session expired" not in page  # only the actions present are offered
    filtered = client.get(url, {"action": "privacy.decrypt"})
    assert [e.action for e in filtered.context["cl"].result_list] == ["privacy.decrypt"]
