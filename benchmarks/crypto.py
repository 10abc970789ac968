"""Benchmark: the cost of encryption at rest per incident and per evidence thumbnail.

Prints, per item, the time to encrypt and store it (the model save or storage write that
callers do) next to the same work without encryption, so the difference is the price of
privacy. Also: a data key lookup on a cache miss (query + unwrap) and a key rewrap
(`rotate_keys`). Run from the repository root:

    python benchmarks/crypto.py [--incidents 1000] [--thumbnails 300] [--thumbnail-kb 24]

It builds a throwaway SQLite database and media folder in a temporary directory (or uses
DATABASE_URL when set) with a random key ring.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _per_item_us(fn, n: int) -> float:
    """Mean CPU time per call (this process), all calls in one transaction.

    CPU time, not wall time: on a shared machine wall time mostly measures the other
    processes. One transaction: the per-commit fsync would otherwise dominate and hide
    what encryption itself adds.
    """
    from django.db import transaction

    with transaction.atomic():
        start = time.process_time()
        for i in range(n):
            fn(i)
        elapsed = time.process_time() - start
    return elapsed / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=1000)
    parser.add_argument("--thumbnails", type=int, default=300)
    parser.add_argument("--thumbnail-kb", type=int, default=24)
    args = parser.parse_args()

    tmp = tempfile.mkdtemp(prefix="proctor-bench-crypto-")
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{tmp}/bench.sqlite3")
    os.environ.setdefault("PROCTOR_VAR_DIR", tmp)
    os.environ["MEDIA_ROOT"] = f"{tmp}/media"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ["PROCTOR_KEYRING"] = f"1:{base64.b64encode(os.urandom(32)).decode()}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "proctor_site.settings")
    Path(tmp, "static").mkdir()

    import django

    django.setup()

    from django.conf import settings

    # The factories' users need a password; a slow hasher would dominate the set-up.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

    from django.core.files.base import ContentFile
    from django.core.files.storage import storages
    from django.core.management import call_command
    from django.db import connection
    from django.test import override_settings
    from django.utils import timezone

    from monitoring.models import Evidence, Incident
    from privacy import crypto, keys
    from tests import factories as f

    call_command("migrate", verbosity=0)
    session = f.ExamSessionFactory()
    baseline_session = f.ExamSessionFactory()
    now = timezone.now()
    # A realistic incident detail: what the rules engine and reviewers write.
    payload = {
        "rule": "looking_away", "yaw_deg": [31.5 + i for i in range(20)],
        "pitch_deg": [4.0] * 20, "gaze": [0.41] * 20, "frames": list(range(100, 140)),
        "note": "Head turned to the right for 7.2 s; the second screen hypothesis.",
    }
    thumbnail = os.urandom(args.thumbnail_kb * 1024)  # like a JPEG: incompressible

    dek = keys.data_key_for_session(session.pk, create=True)
    raw = json.dumps(payload).encode()
    aad = crypto.record_aad(session_id=session.pk, record="bench:1", field="payload")
    seal_us = _per_item_us(lambda i: crypto.seal(dek=dek, plaintext=raw, aad=aad), 20000)
    sealed = crypto.seal(dek=dek, plaintext=raw, aad=aad)
    unseal_us = _per_item_us(lambda i: crypto.unseal(dek=dek, sealed=sealed, aad=aad), 20000)

    def incident(i, target=session, body=raw):
        Incident.objects.create(
            session=target, kind="looking_away", started_at=now + timedelta(seconds=i),
            payload=body,
        )

    n = args.incidents
    plain_us = _per_item_us(lambda i: incident(i, baseline_session, b""), n)
    enc_us = _per_item_us(lambda i: incident(i), n)
    ids = list(Incident.objects.filter(session=session).values_list("pk", flat=True)[:n])
    read_us = _per_item_us(lambda i: Incident.objects.get(pk=ids[i]).payload, len(ids))

    plain_storage, encrypting_storage = storages["default"], storages["evidence"]
    m = args.thumbnails
    store_plain_us = _per_item_us(
        lambda i: plain_storage.save(f"plain/{i}.jpg", ContentFile(thumbnail)), m
    )
    store_sealed_us = _per_item_us(
        lambda i: encrypting_storage.save(
            f"evidence/{session.pk}/bench-{i}.bin", ContentFile(thumbnail)
        ),
        m,
    )
    row_enc_us = _per_item_us(
        lambda i: Evidence.objects.create(
            session=session, seq=i + 1, captured_at=now,
            image=ContentFile(thumbnail, name="t.jpg"),
        ),
        m,
    )
    evidence = list(Evidence.objects.filter(session=session)[:m])
    open_enc_us = _per_item_us(lambda i: evidence[i].image.open("rb").read(), len(evidence))

    with override_settings(PROCTOR_DEK_CACHE_S=0):
        miss_us = _per_item_us(lambda i: keys.data_key_for_session(session.pk), 2000)

    for _ in range(300):
        keys.data_key_for_session(f.ExamSessionFactory().pk, create=True)
    ring2 = {1: crypto.keyring().kek(1), 2: os.urandom(32)}
    with override_settings(PROCTOR_KEYRING=ring2):
        start = time.process_time()
        done = 0
        while batch := keys.session_key_rewrap_batch(batch_size=100):
            done += batch
        rewrap_us = (time.process_time() - start) / done * 1e6

    kb = args.thumbnail_kb
    print(f"Encryption at rest (AES-256-GCM, per-session keys), database {connection.vendor}, "
          f"{n} incidents, {m} thumbnails; CPU time of this process per item")
    print(f"  seal / open one {len(raw)}-byte payload (crypto only): "
          f"{seal_us:8.1f} / {unseal_us:.1f} µs")
    print(f"  incident: create, empty payload (baseline):    {plain_us:8.1f} µs")
    print(f"  incident: encrypt + store payload:             {enc_us:8.1f} µs "
          f"(+{enc_us - plain_us:.1f} µs)")
    print(f"  incident: load + decrypt payload:              {read_us:8.1f} µs")
    print(f"  thumbnail {kb} KB: plain file write (baseline):  {store_plain_us:8.1f} µs")
    print(f"  thumbnail {kb} KB: encrypt + file write:         {store_sealed_us:8.1f} µs "
          f"(+{store_sealed_us - store_plain_us:.1f} µs)")
    print(f"  thumbnail {kb} KB: Evidence row + encrypted file:{row_enc_us:8.1f} µs")
    print(f"  thumbnail {kb} KB: read + decrypt:               {open_enc_us:8.1f} µs")
    print(f"  data key on a cache miss (query + unwrap):     {miss_us:8.1f} µs")
    print(f"  rotate_keys, per session key rewrapped:        {rewrap_us:8.1f} µs")
    print(f"(scratch data in {tmp})")


if __name__ == "__main__":
    main()
