"""Record state in the tamper-evident log: what every logged table's rows must look like now.

The log (reviews/integrity.py) proves that its entries were not changed. This module makes
it also say what the *tables* must hold: each logged record type declares how to read its
current rows and how to reduce a row to a canonical state (ids, enum values, ISO times,
thousandths, keyed digests; never free text). Every write appends the row's whole new
state, so the latest entry for a record is what its row must look like now, and
``manage.py verify_integrity`` compares the two: a row edited, deleted or inserted outside
the services is named (EDITED, DELETED, INSERTED).

Registering a record type (from the owning app, e.g. in its AppConfig.ready())::

    register_record_type(RecordType(
        name="incident",
        rows=lambda: Incident.objects.values("id", "session_id", "severity", "payload"),
        state=lambda row: {
            "session": row["session_id"], "severity": row["severity"],
            "payload": Commit(row["payload"]),       # the ciphertext, as a keyed digest
        },
        on_shred={"payload": Commit(b"")},          # what crypto-shredding leaves
    ))

Recording a change (inside the write's transaction, after the write)::

    integrity_record_log(record_type="incident", record=incident, change="updated")

Each such entry's ``data`` is::

    {"record": "incident", "record_id": 42, "change": "updated",
     "state": {...canonical state...}, "state_digest": "<SHA-256 of the canonical state>"}

and a deletion (``integrity_record_deleted``) logs ``"state": null, "state_digest": null``.
An entry whose change is ``"shredded"`` marks its session as crypto-shredded from that
point: every record of the session last logged before it is expected in its type's
``on_shred`` form (fields overridden, or ``"delete"``: no row). Imports only the log.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Literal
from uuid import UUID

from django.db import transaction

from integrity import merkle
from integrity import services as integrity
from integrity.errors import IntegrityEntryRefused

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
SHREDDED = "shredded"
DELETED = "deleted"


class Commit:
    """A value the log keeps only as a keyed digest (``integrity_commitment``).

    For ciphertext columns (commit to the stored bytes, so nothing is decrypted to check
    them), free text, file names and JSON. None and empty values commit to b"".
    """

    __slots__ = ("raw",)

    def __init__(self, value: Any) -> None:
        if value is None:
            raw = b""
        elif isinstance(value, bytes | bytearray | memoryview):
            raw = bytes(value)
        elif isinstance(value, str):
            raw = value.encode("utf-8")
        else:  # JSON (a dict or a list): its canonical text
            raw = json.dumps(
                value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str
            ).encode("ascii")
        self.raw = raw

    def __repr__(self) -> str:
        return f"<Commit {len(self.raw)} bytes>"


def milli(value: float | None) -> int | None:
    """A float as integer thousandths: the log holds no floats (they have no one text)."""
    return None if value is None else round(value * 1000)


class ContentErased(Exception):
    """Raised by a type's ``content`` reader: the stored object is erased (its key shredded)."""


class ContentUnreadable(Exception):
    """Raised by a type's ``content`` reader; the message names the object and the cause."""


@dataclass(frozen=True)
class RecordType:
    """One logged table.

    ``rows`` returns a QuerySet (of model instances or ``values()`` dicts) of every
    current row; it is filtered by ``pk`` to log one row and by ``session_field`` to check
    one session. ``state`` reduces a row to a flat mapping of ints, strings, booleans,
    None, aware datetimes, dates, UUIDs and ``Commit`` values (floats through ``milli``).
    ``session_field`` is the row's exam session (its own id for the session itself), or
    None for records outside sessions. ``kinds`` maps a change to its log kind (default
    ``"<name>.<change>"``). ``on_shred`` says what shredding a session does to its rows:
    a mapping of overridden state fields, ``"delete"``, or None (nothing). ``content``
    reads a row's stored object (``verify_integrity --evidence``), whose SHA-256 must be
    the logged state's ``content_digest_field``. ``describe`` names a row for people from
    its state (e.g. "frame 3").
    """

    name: str
    rows: Callable[[], Any]
    state: Callable[[Any], Mapping[str, Any]]
    session_field: str | None = "session_id"
    kinds: Mapping[str, str] = field(default_factory=dict)
    on_shred: Mapping[str, Any] | Literal["delete"] | None = None
    content: Callable[[Any], bytes] | None = None
    content_digest_field: str | None = None
    describe: Callable[[Mapping[str, Any]], str] | None = None

    def kind_for(self, change: str) -> str:
        return self.kinds.get(change, f"{self.name}.{change}")


_TYPES: dict[str, RecordType] = {}


def register_record_type(record_type: RecordType) -> RecordType:
    """Register (or replace, by name) a logged record type; return it."""
    if not _NAME.match(record_type.name) or len(record_type.name) > 32:
        raise IntegrityEntryRefused(
            f"Record type name {record_type.name!r} is not a lower-case identifier of at "
            "most 32 characters (e.g. 'incident')."
        )
    _TYPES[record_type.name] = record_type
    return record_type


def record_types() -> list[RecordType]:
    """The registered types, in registration order."""
    return list(_TYPES.values())


def record_type_get(name: str) -> RecordType:
    try:
        return _TYPES[name]
    except KeyError:
        raise IntegrityEntryRefused(
            f"No record type {name!r} is registered (known: {', '.join(_TYPES) or 'none'}); "
            "the owning app registers it with register_record_type() in its ready()."
        ) from None


# -- canonical state ---------------------------------------------------------------------


def _canonical_value(value: Any, *, key_id: str, where: str) -> Any:
    if isinstance(value, Commit):
        return integrity.integrity_commitment(value.raw, key_id=key_id)
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, str):
        return str(value)  # a TextChoices member becomes its plain value
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise IntegrityEntryRefused(f"state.{where} is a naive datetime; pass an aware one.")
        return value.astimezone(UTC).isoformat(timespec="microseconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, float):
        raise IntegrityEntryRefused(
            f"state.{where} is a float ({value!r}); pass milli(value), integer thousandths."
        )
    raise IntegrityEntryRefused(
        f"state.{where} is a {type(value).__name__}; a state holds ids, enum values, times "
        "and Commit(...) digests."
    )


def canonical_state(state: Mapping[str, Any], *, key_id: str) -> dict[str, Any]:
    """``state`` as the log holds it, its commitments made under the key ``key_id``."""
    return {
        str(name): _canonical_value(value, key_id=key_id, where=str(name))
        for name, value in state.items()
    }


def state_digest(state: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of a canonical state's canonical JSON."""
    return hashlib.sha256(merkle.canonical_encode(dict(state))).hexdigest()


def _row_id(row: Any) -> Any:
    return row["id"] if isinstance(row, Mapping) else row.pk


def _row_session(record_type: RecordType, row: Any) -> Any:
    if record_type.session_field is None:
        return None
    if isinstance(row, Mapping):
        return row[record_type.session_field]
    return getattr(row, record_type.session_field)


def _json_id(value: Any) -> int | str:
    return value if isinstance(value, int) and not isinstance(value, bool) else str(value)


def _check_change(change: str) -> None:
    if not _NAME.match(change) or len(change) > 24:
        raise IntegrityEntryRefused(
            f"change {change!r} is not a lower-case word of at most 24 characters "
            "(e.g. 'created', 'updated')."
        )


# -- logging -----------------------------------------------------------------------------


def _append_state(record_type: RecordType, row: Any, change: str) -> Any:
    key_id = integrity.active_key().key_id
    state = canonical_state(record_type.state(row), key_id=key_id)
    session = _row_session(record_type, row)
    return integrity.integrity_append(
        kind=record_type.kind_for(change),
        session=UUID(str(session)) if session is not None else None,
        data={
            "record": record_type.name,
            "record_id": _json_id(_row_id(row)),
            "change": change,
            "state": state,
            "state_digest": state_digest(state),
        },
    )


def integrity_record_log(*, record_type: str, record: Any, change: str) -> Any:
    """Log the current state of one row; return the leaf. Call it after the write, in its
    transaction, for every write to a registered table.

    ``record`` is the model instance (or its primary key). The row is read back from the
    database, so the entry holds exactly what was stored (ciphertext included). Raises
    IntegrityEntryRefused for an unknown type, a bad change name, or a row that does not
    exist (log a deletion with ``integrity_record_deleted``).
    """
    rtype = record_type_get(record_type)
    _check_change(change)
    pk = getattr(record, "pk", record)
    row = rtype.rows().filter(pk=pk).first()
    if row is None:
        raise IntegrityEntryRefused(
            f"{record_type} {pk} does not exist; log a deletion with integrity_record_deleted."
        )
    return _append_state(rtype, row, change)


def integrity_records_log(*, record_type: str, ids: Iterable[Any], change: str) -> int:
    """Log the current state of several rows of one type, read back in one query (e.g. the
    frames whose incident link a bulk UPDATE just changed); return how many were logged."""
    rtype = record_type_get(record_type)
    _check_change(change)
    wanted = list(ids)
    if not wanted:
        return 0
    rows = list(rtype.rows().filter(pk__in=wanted).order_by("pk"))
    for row in rows:
        _append_state(rtype, row, change)
    return len(rows)


def integrity_record_deleted(
    *, record_type: str, record_id: Any, session: Any | None, change: str = DELETED
) -> Any:
    """Log that a row was deleted on purpose (so verification expects it gone).

    For deletions outside crypto-shredding, which the session's ``shredded`` entry
    covers. ``session`` is the row's exam session (or its id), as its entries had it.
    """
    rtype = record_type_get(record_type)
    _check_change(change)
    session_id = getattr(session, "pk", session)
    return integrity.integrity_append(
        kind=rtype.kind_for(change),
        session=UUID(str(session_id)) if session_id is not None else None,
        data={
            "record": rtype.name,
            "record_id": _json_id(record_id),
            "change": change,
            "state": None,
            "state_digest": None,
        },
    )


# -- verification ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Logged:
    index: int
    key_id: str
    session: str | None
    change: str
    state: dict[str, Any] | None
    digest: str | None


@dataclass
class RecordStats:
    checked: int = 0  # current rows that match their latest logged state
    erased: int = 0  # logged records gone by a logged deletion or by shredding
    contents_read: int = 0  # stored objects read and matching (with read_contents)


class RecordCheck:
    """Compares current rows with the log's latest state per record.

    ``feed`` every entry in log order (``integrity_verify`` does, during its one pass over
    the leaves), then ``run``: one query per registered type, no per-row queries.
    """

    def __init__(self, *, session_id: UUID | None = None, read_contents: bool = False) -> None:
        self.session_id = session_id
        self.read_contents = read_contents
        self.latest: dict[str, dict[str, _Logged]] = {}
        self.shredded: dict[str, int] = {}  # session id -> index of its last shred entry

    def feed(self, *, index: int, key_id: str, session: Any, data: Any) -> None:
        if not isinstance(data, Mapping) or not isinstance(data.get("record"), str):
            return
        change, record_id = data.get("change"), data.get("record_id")
        if not isinstance(change, str) or record_id is None:
            return
        state = data.get("state")
        session_text = str(session) if session is not None else None
        self.latest.setdefault(data["record"], {})[str(record_id)] = _Logged(
            index=index, key_id=key_id, session=session_text, change=change,
            state=dict(state) if isinstance(state, Mapping) else None,
            digest=data.get("state_digest"),
        )
        if change == SHREDDED and session_text is not None:
            self.shredded[session_text] = index

    def _expected(self, rtype: RecordType, logged: _Logged) -> tuple[dict | None, str]:
        """The state the row must have now (None: no row), and why, for messages."""
        if logged.state is None:
            return None, f"leaf {logged.index} logged its deletion"
        shred = self.shredded.get(logged.session) if logged.session else None
        if shred is not None and shred > logged.index and rtype.on_shred is not None:
            if rtype.on_shred == "delete":
                return None, f"its session was shredded at leaf {shred}, which deletes it"
            override = canonical_state(rtype.on_shred, key_id=logged.key_id)
            return {**logged.state, **override}, (
                f"leaf {logged.index} ({logged.change}), then shredding at leaf {shred}"
            )
        return logged.state, f"leaf {logged.index} ({logged.change})"

    def run(self, *, max_problems: int = 100) -> tuple[list[integrity.Problem],
                                                      dict[str, RecordStats]]:
        keys = integrity.signing_keys()[1]
        problems: list[integrity.Problem] = []
        stats: dict[str, RecordStats] = {}
        for rtype in record_types():
            if self.session_id is not None and rtype.session_field is None:
                continue
            counts = stats.setdefault(rtype.name, RecordStats())
            logged_of_type = self.latest.get(rtype.name, {})
            for problem in self._check_type(rtype, logged_of_type, counts, keys):
                problems.append(problem)
                if len(problems) >= max_problems:
                    return problems, stats
        return problems, stats

    def _rows(self, rtype: RecordType) -> Iterator[Any]:
        rows = rtype.rows()
        if self.session_id is not None:
            rows = rows.filter(**{rtype.session_field: self.session_id})
        return rows.iterator(chunk_size=2000)

    def _label(self, rtype: RecordType, record_id: str, state: Mapping[str, Any] | None) -> str:
        label = f"{rtype.name} {record_id}"
        if rtype.describe is not None and state is not None:
            # A state without the described fields: the id alone names it.
            with contextlib.suppress(KeyError, TypeError, ValueError):
                label += f" ({rtype.describe(state)})"
        return label

    def _check_type(self, rtype, logged_of_type, counts, keys) -> Iterator[integrity.Problem]:
        def problem(record_id: str, state, message: str) -> integrity.Problem:
            return integrity.Problem(None, message, record=self._label(rtype, record_id, state))

        remaining = dict(logged_of_type)
        for row in self._rows(rtype):
            record_id = str(_row_id(row))
            raw_state = rtype.state(row)
            logged = remaining.pop(record_id, None)
            if logged is None:
                yield problem(record_id, raw_state, (
                    "INSERTED: the row has no entry in the log; it was written outside the "
                    "services (if it predates record logging, see "
                    "`manage.py integrity_adopt_records`)"
                ))
                continue
            expected, why = self._expected(rtype, logged)
            if expected is None:
                yield problem(record_id, raw_state, f"INSERTED: {why}, yet the row exists")
                continue
            if logged.key_id not in keys:
                continue  # its leaf is already reported as sealed by an unknown key
            current = canonical_state(raw_state, key_id=logged.key_id)
            wanted_digest = logged.digest if expected is logged.state else None
            if (wanted_digest or state_digest(expected)) != state_digest(current):
                yield problem(record_id, raw_state, "EDITED: " + _differences(
                    expected, current, committed={
                        name for name, value in raw_state.items() if isinstance(value, Commit)
                    },
                ) + f"; the row must be as {why} says")
                continue
            counts.checked += 1
            if self.read_contents and rtype.content is not None:
                outcome, message = _content_check(rtype, row, expected, why)
                if outcome == "erased":
                    counts.erased += 1
                elif outcome == "bad":
                    yield problem(record_id, raw_state, message)
                else:
                    counts.contents_read += 1
        for record_id, logged in remaining.items():
            expected, why = self._expected(rtype, logged)
            if expected is None:
                counts.erased += 1
                continue
            yield problem(record_id, logged.state, (
                f"DELETED: {why} says the row exists, but it is gone and no deletion or "
                "shredding was logged"
            ))


def _differences(expected: Mapping[str, Any], current: Mapping[str, Any], *, committed) -> str:
    parts = []
    for name in sorted(set(expected) | set(current)):
        was, now = expected.get(name), current.get(name)
        if was == now:
            continue
        if name in committed:
            parts.append(f"{name} (its digest differs from the logged one)")
        else:
            parts.append(f"{name} is {now!r}, logged {was!r}")
    return ", ".join(parts) or "its state digest differs from the logged one"


def _content_check(
    rtype: RecordType, row: Any, expected: Mapping[str, Any], why: str
) -> tuple[Literal["ok", "erased", "bad"], str]:
    try:
        content = rtype.content(row)
    except ContentErased:
        return "erased", ""
    except ContentUnreadable as exc:
        return "bad", str(exc)
    if hashlib.sha256(content).hexdigest() != expected.get(rtype.content_digest_field):
        return "bad", (
            f"the stored object is not the one logged at {why}: it was replaced or altered"
        )
    return "ok", ""


def _with_content_digest(rtype: RecordType, row: Any) -> Any:
    field_name = rtype.content_digest_field
    if rtype.content is None or field_name is None:
        return row
    current = row.get(field_name) if isinstance(row, Mapping) else getattr(row, field_name)
    if current:
        return row
    try:
        digest = hashlib.sha256(rtype.content(row)).hexdigest()
    except (ContentErased, ContentUnreadable):
        return row  # verify reports it; nothing is adopted that cannot be read
    rows = rtype.rows().filter(pk=_row_id(row))
    rows.update(**{field_name: digest})
    return rows.first()


def integrity_records_adopt() -> dict[str, int]:
    """Log a ``baseline`` entry for every registered row the log has never seen.

    For rows written before their table was logged (an upgrade, a seeding script): run
    once, then ``verify_integrity``. Rows that have entries are left alone, so an edited
    row stays reported as EDITED; a deleted one as DELETED. A row whose stored content
    has no digest yet (evidence of a release that kept none) gets it computed from its
    content first, so ``--evidence`` checks that content from now on. Returns how many
    rows per type were adopted.
    """
    check = RecordCheck()
    leaves = integrity.IntegrityLeaf.objects.order_by("index").values_list(
        "index", "key_id", "session_id", "body"
    )
    for index, key_id, session, body in leaves.iterator(chunk_size=5000):
        check.feed(index=index, key_id=key_id, session=session, data=json.loads(body)["data"])
    adopted: dict[str, int] = {}
    for rtype in record_types():
        known = check.latest.get(rtype.name, {})
        with transaction.atomic():
            count = 0
            for row in rtype.rows().iterator(chunk_size=2000):
                if str(_row_id(row)) not in known:
                    row = _with_content_digest(rtype, row)
                    _append_state(rtype, row, "baseline")
                    count += 1
        adopted[rtype.name] = count
    return adopted


# Shorthands for the record types the apps register (exams/, monitoring/ and reviews/
# logged_records.py); they name the types only, so the log imports no app's models.
INCIDENT_CHANGES = frozenset({"created", "updated", "closed", "decided"})


def integrity_log_incident(*, incident: Any, change: str = "created") -> Any:
    """Log an Incident's whole current state. Call it in the transaction of each write.

    ``change`` is "created", "updated" (severity, score, details), "closed" (ended_at
    set) or "decided" (status). The payload is logged as a keyed digest of its ciphertext.
    """
    if change not in INCIDENT_CHANGES:
        raise IntegrityEntryRefused(
            f"Incident change {change!r} is not one of {', '.join(sorted(INCIDENT_CHANGES))}."
        )
    return integrity_record_log(record_type="incident", record=incident, change=change)


def integrity_log_decision(*, decision: Any) -> Any:
    """Log a newly created ReviewDecision, a review's close included (the note, free text,
    is logged as a keyed digest of its ciphertext)."""
    return integrity_record_log(record_type="review_decision", record=decision, change="created")


def integrity_log_appeal(*, appeal: Any) -> Any:
    """Log a newly created Appeal (its text as a keyed digest of its ciphertext)."""
    return integrity_record_log(record_type="appeal", record=appeal, change="created")


def integrity_log_evidence(*, evidence: Any) -> Any:
    """Log a newly stored Evidence frame with the SHA-256 of its content."""
    return integrity_record_log(record_type="evidence", record=evidence, change="stored")
