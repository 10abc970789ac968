"""Finding, minting, rewrapping and destroying the data keys of exam sessions.

Unwrapped DEKs are cached in process memory for ``PROCTOR_DEK_CACHE_S`` seconds (default
30) so that a page decrypting many rows of one session does not query and unwrap once per
row. Shredding evicts the key in the process that shreds; other worker processes forget it
within that time at the latest, and by then the ciphertext rows and objects are deleted
too. Set PROCTOR_DEK_CACHE_S=0 to disable the cache.
"""

from __future__ import annotations

import threading
import time
import uuid

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from privacy import crypto
from privacy.errors import SessionShredded
from privacy.models import SessionKey

_cache: dict[str, tuple[float, bytes]] = {}
_cache_lock = threading.Lock()
_CACHE_MAX = 4096


def _cache_get(session_id: str) -> bytes | None:
    ttl = settings.PROCTOR_DEK_CACHE_S
    if ttl <= 0:
        return None
    with _cache_lock:
        hit = _cache.get(session_id)
        if hit is None:
            return None
        if time.monotonic() - hit[0] > ttl:
            del _cache[session_id]
            return None
        return hit[1]


def _cache_put(session_id: str, dek: bytes) -> None:
    """Cache the key once the transaction that read or minted its row has committed.

    Caching earlier would be a data-loss bug: a key minted in a transaction that then
    rolls back has no stored row, and data sealed with it later would never open again.
    """
    if settings.PROCTOR_DEK_CACHE_S <= 0:
        return

    def put() -> None:
        with _cache_lock:
            if len(_cache) >= _CACHE_MAX:
                _cache.clear()
            _cache[session_id] = (time.monotonic(), dek)

    transaction.on_commit(put)


def cache_evict(session_id: uuid.UUID | str | None = None) -> None:
    """Forget one session's cached key (or all of them)."""
    with _cache_lock:
        if session_id is None:
            _cache.clear()
        else:
            _cache.pop(str(session_id), None)


def _shredded(session_id: str) -> SessionShredded:
    return SessionShredded(
        f"Session {session_id} was crypto-shredded: its data key is destroyed, so nothing "
        "can be encrypted or decrypted for it any more."
    )


def data_key_for_session(session_id: uuid.UUID | str, *, create: bool = False) -> bytes:
    """The session's unwrapped DEK, minted on first use when ``create`` is true.

    Raises SessionShredded for a shredded session and DecryptionFailed when a wrapped key
    does not unwrap (tampered row or wrong key ring).
    """
    sid = str(session_id)
    cached = _cache_get(sid)
    if cached is not None:
        return cached
    row = SessionKey.objects.filter(session_id=sid).values_list(
        "kek_version", "wrapped_dek", "shredded_at"
    ).first()
    if row is None:
        if not create:
            raise SessionShredded(
                f"Session {sid} has no data key, so it holds no encrypted data to open "
                "(or its key row was deleted, which shreds it)."
            )
        return _mint(sid)
    version, wrapped, shredded_at = row
    if shredded_at is not None:
        raise _shredded(sid)
    dek = crypto.unwrap_data_key(
        wrapped=bytes(wrapped), session_id=sid, ring=crypto.keyring(), version=version
    )
    _cache_put(sid, dek)
    return dek


def _mint(session_id: str) -> bytes:
    ring = crypto.keyring()
    dek = crypto.new_data_key()
    wrapped = crypto.wrap_data_key(
        dek=dek, session_id=session_id, ring=ring, version=ring.active_version
    )
    try:
        with transaction.atomic():
            SessionKey.objects.create(
                session_id=session_id, kek_version=ring.active_version, wrapped_dek=wrapped
            )
    except IntegrityError:
        # A concurrent writer minted it first; use theirs (the primary key decided).
        return data_key_for_session(session_id)
    _cache_put(session_id, dek)
    return dek


def session_key_rewrap_batch(*, batch_size: int = 100) -> int:
    """Rewrap up to ``batch_size`` data keys under the active KEK. Returns how many.

    One short transaction per batch with ``SELECT ... FOR UPDATE SKIP LOCKED``, so the
    command can be stopped at any moment and started again (or run twice at once): a key
    is either fully rewrapped or untouched. The data itself is never read or rewritten.
    """
    ring = crypto.keyring()
    with transaction.atomic():
        rows = list(
            SessionKey.objects.select_for_update(skip_locked=True)
            .filter(shredded_at__isnull=True)
            .exclude(kek_version=ring.active_version)
            .order_by("pk")[:batch_size]
        )
        now = timezone.now()
        for row in rows:
            dek = crypto.unwrap_data_key(
                wrapped=bytes(row.wrapped_dek), session_id=row.session_id, ring=ring,
                version=row.kek_version,
            )
            row.wrapped_dek = crypto.wrap_data_key(
                dek=dek, session_id=row.session_id, ring=ring, version=ring.active_version
            )
            row.kek_version = ring.active_version
            row.rewrapped_at = now
            row.save(update_fields=["wrapped_dek", "kek_version", "rewrapped_at"])
    return len(rows)
