"""Encrypted model fields and storage: invisible to callers, bound to their record."""

from __future__ import annotations

import json

import pytest
from django.core.files.base import ContentFile
from django.db import connection

from monitoring.models import Evidence, Incident
from privacy.errors import DecryptionFailed, EncryptionRequired, UnknownKeyVersion
from privacy.fields import Ciphertext
from privacy.models import SessionKey
from reviews.models import ReviewDecision
from tests import factories as f
from tests.reviews.privacy.helpers import js


def _raw(model, pk, field):
    """The column's bytes as stored, read with SQL (no field conversion)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {field} FROM {model._meta.db_table} WHERE id = %s", [pk]  # noqa: S608
        )
        return bytes(cursor.fetchone()[0])


def test_incident_payload_round_trips_and_is_ciphertext_in_the_column(session):
    incident = f.IncidentFactory(session=session, payload=js({"note": "canary-payload-1"}))

    raw = _raw(Incident, incident.pk, "payload")
    assert b"canary-payload-1" not in raw
    assert json.loads(Incident.objects.get(pk=incident.pk).payload) == {"note": "canary-payload-1"}


def test_each_session_gets_its_own_wrapped_data_key(session, exam, other_student):
    other = f.ExamSessionFactory(exam=exam, student=other_student)
    f.IncidentFactory(session=session, payload=js({"a": 1}))
    f.IncidentFactory(session=other, payload=js({"a": 1}))

    keys = SessionKey.objects.filter(session__in=[session, other])
    assert keys.count() == 2
    assert len({bytes(k.wrapped_dek) for k in keys}) == 2
    assert all(k.kek_version == 1 for k in keys)


def test_values_list_returns_ciphertext_not_plaintext(session):
    f.IncidentFactory(session=session, payload=js({"secret": "x"}))

    (value,) = Incident.objects.values_list("payload", flat=True)
    assert isinstance(value, Ciphertext)
    assert "Ciphertext" in repr(value)


def test_encrypted_column_cannot_be_filtered_or_updated_in_bulk(session):
    f.IncidentFactory(session=session, payload=js({"a": 1}))

    with pytest.raises(EncryptionRequired, match="cannot be filtered on"):
        list(Incident.objects.filter(payload=js({"a": 1})))
    with pytest.raises(EncryptionRequired, match=r"QuerySet.update\(\)"):
        Incident.objects.update(payload=js({"a": 2}))


def test_payload_swapped_between_rows_of_one_session_is_refused(session):
    first = f.IncidentFactory(session=session, payload=js({"who": "first"}))
    second = f.IncidentFactory(session=session, payload=js({"who": "second"}))
    stolen = Ciphertext(_raw(Incident, first.pk, "payload"))
    Incident.objects.filter(pk=second.pk).update(payload=stolen)

    with pytest.raises(DecryptionFailed, match=f"reviews.incident:{second.uid}"):
        _ = Incident.objects.get(pk=second.pk).payload


def test_review_note_round_trips_and_empty_needs_no_key(session, reviewer):
    incident = f.IncidentFactory(session=session)
    empty = f.ReviewDecisionFactory(incident=incident, reviewer=reviewer)
    assert _raw(ReviewDecision, empty.pk, "note") == b""
    assert not SessionKey.objects.filter(session=session).exists()

    noted = f.ReviewDecisionFactory(incident=incident, reviewer=reviewer, note="canary-note")
    assert b"canary-note" not in _raw(ReviewDecision, noted.pk, "note")
    assert ReviewDecision.objects.get(pk=noted.pk).note == "canary-note"


def test_evidence_file_is_encrypted_on_disk_and_opens_through_the_field(session, settings):
    evidence = f.EvidenceFactory(
        session=session, image=ContentFile(b"canary-jpeg-bytes", name="frame.jpg")
    )

    assert evidence.image.name.startswith(f"evidence/{session.pk}/")
    on_disk = (settings.MEDIA_ROOT / evidence.image.name).read_bytes()
    assert b"canary-jpeg-bytes" not in on_disk
    with Evidence.objects.get(pk=evidence.pk).image.open() as handle:
        assert handle.read() == b"canary-jpeg-bytes"
    assert evidence.image.url == f"/privacy/files/{evidence.image.name}"


def test_evidence_file_moved_to_another_session_is_refused(session, exam, other_student, settings):
    other = f.ExamSessionFactory(exam=exam, student=other_student)
    mine = f.EvidenceFactory(session=session, image=ContentFile(b"mine", name="a.jpg"))
    theirs = f.EvidenceFactory(session=other, image=ContentFile(b"theirs", name="b.jpg"))
    (settings.MEDIA_ROOT / theirs.image.name).write_bytes(
        (settings.MEDIA_ROOT / mine.image.name).read_bytes()
    )

    with pytest.raises(DecryptionFailed, match=f"session={other.pk}"):
        Evidence.objects.get(pk=theirs.pk).image.read()


def test_unknown_key_version_names_the_fix(session, settings):
    f.IncidentFactory(session=session, payload=js({"a": 1}))
    SessionKey.objects.filter(session=session).update(kek_version=7)
    from privacy import keys

    keys.cache_evict()
    with pytest.raises(UnknownKeyVersion, match="Key version 7 is not in PROCTOR_KEYRING"):
        _ = Incident.objects.get(session=session).payload


def test_a_data_key_minted_in_a_rolled_back_transaction_is_never_reused(session):
    from django.db import transaction

    from privacy import keys

    with pytest.raises(RuntimeError, match="crash"), transaction.atomic():
        f.IncidentFactory(session=session, payload=js({"lost": True}))
        raise RuntimeError("crash")
    assert not SessionKey.objects.filter(session=session).exists()

    incident = f.IncidentFactory(session=session, payload=js({"kept": True}))
    keys.cache_evict()
    assert json.loads(Incident.objects.get(pk=incident.pk).payload) == {"kept": True}


def test_data_keys_are_cached_only_after_commit(session, django_capture_on_commit_callbacks):
    from privacy import keys

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        keys.data_key_for_session(session.pk, create=True)
    assert keys._cache_get(str(session.pk)) is None
    for callback in callbacks:
        callback()
    assert keys._cache_get(str(session.pk)) is not None


def test_json_field_takes_dicts_and_names_the_fix_for_bytes():
    from privacy.fields import EncryptedJSONField

    field = EncryptedJSONField()
    field.set_attributes_from_name("details")
    field.model = Incident
    assert field.decode(field.encode({"tab": "hidden"})) == {"tab": "hidden"}
    assert field.is_empty({}) and field.empty_value() == {}
    with pytest.raises(EncryptionRequired, match="takes a JSON value"):
        field.encode(b"{}")


def test_bulk_create_encrypts_each_row(session):
    rows = Incident.objects.bulk_create(
        [f.IncidentFactory.build(session=session, payload=b"canary-bulk-%d" % i) for i in range(3)]
    )
    assert all(b"canary-bulk" not in _raw(Incident, r.pk, "payload") for r in rows)
    assert sorted(i.payload for i in Incident.objects.all()) == [
        b"canary-bulk-0", b"canary-bulk-1", b"canary-bulk-2"
    ]
