"""The tamper-evident log: append entries, sign checkpoints, prove inclusion, verify it all.

A Merkle tree in the manner of Certificate Transparency (RFC 6962/9162; hashing and
proofs in reviews/merkle.py). Why, and what it does not protect against: docs/integrity.md.

How to record something (for every app)
---------------------------------------
Call ``integrity_append`` inside the transaction of the write it records, so the entry
commits or rolls back with it::

    with transaction.atomic():
        grant = BreakGlassGrant.objects.create(...)
        integrity_append(
            kind="break_glass.grant",
            session=grant.session,
            data={"grant_id": grant.pk, "approver_id": approver.pk, "expires_at": "..."},
        )

``data`` holds ids, enum values, ISO times, counts and hex digests only: never names,
e-mail addresses, notes, reasons or other free text, because leaves are never removed and
erasure works by destroying a session's key (crypto-shredding). To commit to a
personal value, pass ``integrity_commitment(value)`` (a keyed digest). Strings over 128
characters and floats are refused (IntegrityEntryRefused).

Appends are serialised: each takes a transaction-scoped lock (a PostgreSQL advisory lock)
held until the caller commits, because leaf positions must be dense and in commit order.
Keep the transactions that append short.

Rows of logged tables (incidents, decisions, appeals, sessions, evidence) are recorded
by their whole state, so that verification can compare the tables with the log: see
integrity/records.py (``integrity_record_log`` and the record type registry).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from integrity import merkle
from integrity.errors import IntegrityEntryRefused, IntegrityViolation, NoCheckpoint
from integrity.keys import active_key, signing_keys
from integrity.models import IntegrityCheckpoint, IntegrityLeaf

# Any 64-bit constant unique to this lock; it spells "ITGR" in ASCII.
_ADVISORY_LOCK_ID = 0x49544752
ENTRY_VERSION = 1
MAX_STRING_CHARS = 128
_KIND = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")


class Kind:
    """The kinds recorded by this codebase; other apps may add their own dotted names."""

    INCIDENT = "incident.created"  # and incident.updated, .closed, .decided
    REVIEW_DECISION = "review.decision"
    APPEAL = "review.appeal"
    AUDIT = "audit"
    BREAK_GLASS_GRANT = "break_glass.grant"
    EVIDENCE_STORED = "evidence.stored"
    # Exam sessions: exam_session.created, .consent, .start, ..., .shredded (exams/).


# -- appending -------------------------------------------------------------------------


def _lock_log() -> None:
    """Serialise appends until the caller's transaction ends.

    On PostgreSQL an advisory lock; SQLite already serialises writing transactions.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_ADVISORY_LOCK_ID])


def _check_data(data: Mapping[str, Any], where: str = "data") -> None:
    for key, value in data.items():
        if isinstance(value, str) and len(value) > MAX_STRING_CHARS:
            raise IntegrityEntryRefused(
                f"{where}.{key} is {len(value)} characters long; the log takes ids, enum "
                f"values and digests of at most {MAX_STRING_CHARS} characters, never free "
                "text (pass integrity_commitment(value) instead)."
            )
        if isinstance(value, Mapping):
            _check_data(value, f"{where}.{key}")


def _timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _next_positions(session_id: UUID | None) -> tuple[int, int | None]:
    """The next leaf index and the session's next entry number, in one round trip.

    Read after taking the lock (a separate statement, so this one's snapshot sees every
    append committed before the lock was granted). Both maxima come from indexes.
    """
    quote = connection.ops.quote_name
    table = quote(IntegrityLeaf._meta.db_table)
    index_col, seq_col, session_col = quote("index"), quote("session_seq"), quote("session_id")
    session_value = IntegrityLeaf._meta.get_field("session_id").get_db_prep_value(
        session_id, connection
    )
    with connection.cursor() as cursor:
        cursor.execute(
            # Names come from the model, not from input.
            f"SELECT (SELECT MAX({index_col}) FROM {table}), "  # noqa: S608
            f"(SELECT MAX({seq_col}) FROM {table} WHERE {session_col} = %s)",
            [session_value],
        )
        last_index, last_seq = cursor.fetchone()
    index = 0 if last_index is None else last_index + 1
    if session_id is None:
        return index, None
    return index, 0 if last_seq is None else last_seq + 1


def row_mac(mac_key: bytes, leaf_hash: bytes) -> bytes:
    return hmac.new(mac_key, b"proctor-integrity-row\n" + leaf_hash, hashlib.sha256).digest()


def integrity_append(
    *,
    kind: str,
    session: Any | None = None,
    data: Mapping[str, Any] | None = None,
    now: datetime | None = None,
) -> IntegrityLeaf:
    """Append one entry to the log, inside the caller's transaction; return its leaf.

    ``session`` is an ExamSession (or its UUID) the entry belongs to, or None for entries
    about no session. ``now`` overrides the log's clock (tests, imports); leave it unset.
    Raises IntegrityEntryRefused for a bad kind or data that could hold personal free text
    (see the module docstring).
    """
    if not _KIND.match(kind) or len(kind) > 64:
        raise IntegrityEntryRefused(
            f"kind {kind!r} is not a dotted lower-case name of at most 64 characters "
            "(e.g. 'incident.created')."
        )
    data = dict(data or {})
    _check_data(data)
    try:
        merkle.canonical_encode(data)  # refuse before touching the caller's transaction
    except merkle.ProofError as exc:
        raise IntegrityEntryRefused(f"The entry cannot be logged: {exc}") from exc
    session_id: UUID | None = None
    if session is not None:
        session_id = session if isinstance(session, UUID) else session.pk
    key = active_key()
    # No savepoint: a failed append must fail the caller's whole transaction anyway, and
    # skipping it halves the round trips (appends are latency-bound, not CPU-bound).
    with transaction.atomic(savepoint=False):
        _lock_log()
        index, session_seq = _next_positions(session_id)
        # The log's own time, read under the lock so that it follows the order of the
        # leaves (as far as the clock does); a record's own times go in ``data``.
        moment = (now or timezone.now()).astimezone(UTC)
        entry = {
            "v": ENTRY_VERSION,
            "i": index,
            "kind": kind,
            "session": str(session_id) if session_id else None,
            "seq": session_seq,
            "at": _timestamp(moment),
            "data": data,
        }
        body = merkle.canonical_encode(entry)
        digest = merkle.leaf_hash(body)
        return IntegrityLeaf.objects.create(
            index=index,
            kind=kind,
            session_id=session_id,
            session_seq=session_seq,
            created_at=moment,
            body=body.decode("ascii"),
            leaf_hash=digest,
            key_id=key.key_id,
            mac=row_mac(key.mac_key, digest),
        )


def integrity_commitment(raw: bytes | str, *, key_id: str | None = None) -> str:
    """A keyed digest (HMAC-SHA256, hex) to commit to a personal value without revealing it.

    Plain SHA-256 of a short value (an incident's details, a target name) can be found by
    trying guesses; a holder of an exported bundle lacks this key, so cannot. The server
    can recompute it to check the stored value against the log. ``key_id`` selects the
    key (active or retired) that sealed the entry being checked; by default the active one.
    """
    data = raw.encode() if isinstance(raw, str) else raw
    if key_id is None:
        key = active_key()
    else:
        key = signing_keys()[1].get(key_id)
        if key is None:
            raise IntegrityViolation(
                f"Key {key_id} is not the active key nor listed in "
                "PROCTOR_INTEGRITY_RETIRED_KEYS."
            )
    return hmac.new(
        key.mac_key, b"proctor-integrity-commitment\n" + data, hashlib.sha256
    ).hexdigest()


# -- checkpoints -----------------------------------------------------------------------


def checkpoint_from_row(row: IntegrityCheckpoint) -> merkle.Checkpoint:
    return merkle.Checkpoint(
        origin=row.origin,
        tree_size=row.tree_size,
        root_hash=bytes(row.root_hash),
        timestamp=row.timestamp,
        key_id=row.key_id,
        signature=bytes(row.signature),
    )


def public_key_for(key_id: str) -> bytes:
    key = signing_keys()[1].get(key_id)
    if key is None:
        raise IntegrityViolation(
            f"Key {key_id} is not the active key nor listed in PROCTOR_INTEGRITY_RETIRED_KEYS."
        )
    return key.public_bytes


def _leaf_hashes(limit: int | None = None) -> list[bytes]:
    """Every stored leaf hash in order, refusing a log whose positions are not 0..n-1."""
    rows = IntegrityLeaf.objects.order_by("index").values_list("index", "leaf_hash")
    if limit is not None:
        rows = rows.filter(index__lt=limit)
    hashes: list[bytes] = []
    for position, (index, digest) in enumerate(rows.iterator(chunk_size=10_000)):
        if index != position:
            raise IntegrityViolation(
                f"Leaf {position} is missing (the next stored leaf is {index}); run "
                "`manage.py verify_integrity` for the full report."
            )
        hashes.append(bytes(digest))
    return hashes


def integrity_checkpoint_create(*, now: datetime | None = None) -> IntegrityCheckpoint:
    """Sign a tree head over every committed leaf; return it (or the last, if nothing new).

    Before signing, checks that the log still extends the previous checkpoint and that the
    rows added since are sealed by a known key, so a tampered log is never signed.
    Raises IntegrityViolation otherwise.
    """
    key = active_key()
    with transaction.atomic():
        _lock_log()
        previous = IntegrityCheckpoint.objects.order_by("-tree_size", "-id").first()
        last = IntegrityLeaf.objects.aggregate(last=Max("index"))["last"]
        if previous is not None and last is not None and last + 1 == previous.tree_size:
            return previous  # nothing appended: signing nothing new needs no full read
        hashes = _leaf_hashes()
        size = len(hashes)
        tree = merkle.MerkleTree(hashes)
        if previous is not None:
            if previous.tree_size > size:
                raise IntegrityViolation(
                    f"The log has {size} leaves but checkpoint {previous.pk} covers "
                    f"{previous.tree_size}: leaves were removed. Not signing."
                )
            if tree.root(previous.tree_size) != bytes(previous.root_hash):
                raise IntegrityViolation(
                    f"The first {previous.tree_size} leaves no longer match checkpoint "
                    f"{previous.pk}. Not signing; run `manage.py verify_integrity`."
                )
            if previous.tree_size == size:
                return previous
        since = previous.tree_size if previous is not None else 0
        problems = _check_rows(
            IntegrityLeaf.objects.filter(index__gte=since).order_by("index"), signing_keys()[1]
        )
        if problems:
            raise IntegrityViolation(f"Not signing: {problems[0]}")
        timestamp = _timestamp(now or timezone.now())
        root = tree.root()
        text = merkle.checkpoint_text(settings.PROCTOR_INTEGRITY_ORIGIN, size, root, timestamp)
        return IntegrityCheckpoint.objects.create(
            origin=settings.PROCTOR_INTEGRITY_ORIGIN,
            tree_size=size,
            root_hash=root,
            timestamp=timestamp,
            key_id=key.key_id,
            signature=key.sign(text),
        )


def integrity_checkpoint_latest() -> IntegrityCheckpoint | None:
    return IntegrityCheckpoint.objects.order_by("-tree_size", "-id").first()


# -- proofs and bundles ------------------------------------------------------------------


BUNDLE_FORMAT = "proctor-integrity-bundle/1"


def integrity_session_bundle(
    *, session_id: UUID, checkpoint: merkle.Checkpoint | None = None
) -> dict[str, Any]:
    """A session's entries with inclusion proofs against a checkpoint, as plain JSON data.

    ``checkpoint`` is a published one; by default the latest stored. The bundle also holds
    a consistency proof from every earlier stored checkpoint, so a verifier holding any of
    them can check that this checkpoint extends it. Verify it offline with
    reviews/offline_verifier.py. Raises NoCheckpoint before the first checkpoint and
    IntegrityViolation when the stored log does not match the checkpoint.
    """
    if checkpoint is None:
        row = integrity_checkpoint_latest()
        if row is None:
            raise NoCheckpoint(
                "No checkpoint has been signed yet; run `manage.py integrity_checkpoint`."
            )
        checkpoint = checkpoint_from_row(row)
    if checkpoint.origin != settings.PROCTOR_INTEGRITY_ORIGIN:
        raise IntegrityViolation(
            f"The checkpoint is for log {checkpoint.origin!r}, not this one "
            f"({settings.PROCTOR_INTEGRITY_ORIGIN!r})."
        )
    try:
        checkpoint.verify(public_key_for(checkpoint.key_id))
    except merkle.ProofError as exc:
        raise IntegrityViolation(f"The checkpoint does not verify: {exc}") from exc
    hashes = _leaf_hashes(limit=checkpoint.tree_size)
    if len(hashes) < checkpoint.tree_size:
        raise IntegrityViolation(
            f"The log has {len(hashes)} leaves but the checkpoint covers "
            f"{checkpoint.tree_size}: leaves were removed."
        )
    tree = merkle.MerkleTree(hashes)
    if tree.root() != checkpoint.root_hash:
        raise IntegrityViolation(
            f"The stored log does not match the checkpoint of {checkpoint.tree_size} leaves; "
            "run `manage.py verify_integrity`."
        )
    leaves = IntegrityLeaf.objects.filter(
        session_id=session_id, index__lt=checkpoint.tree_size
    ).order_by("index")
    earlier = IntegrityCheckpoint.objects.filter(tree_size__lt=checkpoint.tree_size).order_by(
        "-tree_size"
    )[:50]
    return {
        "format": BUNDLE_FORMAT,
        "session": str(session_id),
        "checkpoint": checkpoint.to_json(),
        "entries": [
            {
                "index": leaf.index,
                "body": leaf.body,
                "proof": [node.hex() for node in tree.inclusion_proof(leaf.index)],
            }
            for leaf in leaves
        ],
        "consistency": [
            {
                "from_size": old.tree_size,
                "from_root": bytes(old.root_hash).hex(),
                "proof": [
                    node.hex()
                    for node in tree.consistency_proof(old.tree_size, checkpoint.tree_size)
                ],
            }
            for old in earlier
        ],
    }


def integrity_consistency_proof(*, old_size: int, new_size: int) -> list[bytes]:
    """The RFC 9162 consistency proof between two sizes of the stored log."""
    return merkle.MerkleTree(_leaf_hashes(limit=new_size)).consistency_proof(old_size, new_size)


# Proofs read every leaf hash; the API serves them from the cache so that repeated
# requests (a page reloaded, a script) cost one computation per checkpoint.
PROOF_CACHE_S = 600


def integrity_session_bundle_latest(*, session_id: UUID) -> dict[str, Any]:
    """``integrity_session_bundle`` against the latest checkpoint, cached per checkpoint."""
    row = integrity_checkpoint_latest()
    if row is None:
        raise NoCheckpoint(
            "No checkpoint has been signed yet; run `manage.py integrity_checkpoint`."
        )
    key = f"proctor:integrity:bundle:{session_id}:{row.pk}"
    bundle = cache.get(key)
    if bundle is None:
        checkpoint = checkpoint_from_row(row)
        bundle = integrity_session_bundle(session_id=session_id, checkpoint=checkpoint)
        cache.set(key, bundle, PROOF_CACHE_S)
    return bundle


def integrity_consistency_proof_cached(*, old_size: int, new_size: int) -> list[str]:
    """Hex nodes of the consistency proof, cached: a proof between two sizes never changes."""
    if new_size <= 0:
        return []
    # Keyed by the last leaf's hash too, so a different log (another database, a test)
    # never gets this one's proof.
    last = IntegrityLeaf.objects.filter(index=new_size - 1).values_list("leaf_hash", flat=True)
    last_hash = bytes(last[0]).hex() if last else "missing"
    key = f"proctor:integrity:consistency:{old_size}:{new_size}:{last_hash}"
    proof = cache.get(key)
    if proof is None:
        proof = [
            node.hex()
            for node in integrity_consistency_proof(old_size=old_size, new_size=new_size)
        ]
        cache.set(key, proof, PROOF_CACHE_S)
    return proof


# -- findings --------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One finding: about the log (no index), a leaf (its index) or a table's row
    (``record``, e.g. "incident 42"; those come after every leaf problem)."""

    index: int | None
    message: str
    record: str | None = None

    def __str__(self) -> str:
        if self.record is not None:
            return f"{self.record}: {self.message}"
        where = f"leaf {self.index}" if self.index is not None else "log"
        return f"{where}: {self.message}"


ROW_FIELDS = (
    "index", "kind", "session_id", "session_seq", "created_at", "body", "leaf_hash",
    "key_id", "mac",
)


def _row_problems(row: tuple, keys: Mapping[str, Any]) -> list[str]:
    return row_check(row, keys)[0]


def row_check(row: tuple, keys: Mapping[str, Any]) -> tuple[list[str], dict | None]:
    """What is wrong with one stored row, and its decoded entry (None if unreadable)."""
    index, kind, session_id, session_seq, created_at, body, digest, key_id, mac = row
    digest, mac = bytes(digest), bytes(mac)
    messages: list[str] = []
    key = keys.get(key_id)
    if key is None:
        messages.append(f"sealed by unknown key {key_id!r}")
    elif not hmac.compare_digest(mac, row_mac(key.mac_key, digest)):
        messages.append("its seal (MAC) does not match its hash: the row was edited or forged")
    raw = body.encode("ascii", errors="replace")
    if merkle.leaf_hash(raw) != digest:
        messages.append("its body does not hash to its stored leaf hash: the body was edited")
    try:
        entry = merkle.canonical_decode(raw)
    except merkle.ProofError as exc:
        messages.append(f"its body is unreadable: {exc}")
        return messages, None
    expected = {
        "i": index,
        "kind": kind,
        "session": str(session_id) if session_id else None,
        "seq": session_seq,
        "at": _timestamp(created_at),
    }
    for name, value in expected.items():
        if entry.get(name) != value:
            messages.append(
                f"its column for {name!r} is {value!r} but its body says "
                f"{entry.get(name)!r}: the row was edited or moved"
            )
    return messages, entry


def _check_rows(rows, keys) -> list[Problem]:
    return [
        Problem(row[0], message)
        for row in rows.values_list(*ROW_FIELDS).iterator(chunk_size=5000)
        for message in _row_problems(row, keys)
    ]
