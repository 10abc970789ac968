"""Check an exported session bundle offline against a published checkpoint. No Django.

Usage (needs only Python 3.11 and the ``cryptography`` package, plus this file and
integrity/merkle.py)::

    python -m integrity.offline_verifier bundle.json --public-key BASE64 \\
        [--checkpoint published-checkpoint.json] [--origin proctor.example/integrity]

Checks that the bundle's checkpoint is signed by the given public key (obtain it
independently of the bundle: from the institution's web page, a letter, a witness); that
it is the published checkpoint or extends it (a consistency proof in the bundle); that
every entry is in the tree under that checkpoint (an inclusion proof per entry); and that
the session's entries are numbered 0, 1, 2, ... with none missing in between. Exits 0
when all hold, 1 naming the first failure otherwise.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import sys
from pathlib import Path
from typing import Any

from integrity.merkle import (
    Checkpoint,
    ProofError,
    canonical_decode,
    leaf_hash,
    verify_consistency,
    verify_inclusion,
)

BUNDLE_FORMAT = "proctor-integrity-bundle/1"


def _hashes(values: list[str], where: str) -> list[bytes]:
    try:
        nodes = [bytes.fromhex(value) for value in values]
    except (TypeError, ValueError) as exc:
        raise ProofError(f"{where} holds something that is not a hex hash.") from exc
    if any(len(node) != 32 for node in nodes):
        raise ProofError(f"{where} holds a hash that is not 32 bytes.")
    return nodes


def verify_bundle(
    bundle: dict[str, Any],
    *,
    public_key: bytes,
    published: Checkpoint | None = None,
    origin: str | None = None,
) -> list[dict[str, Any]]:
    """Raise ProofError naming the first failure; return the verified entries."""
    if bundle.get("format") != BUNDLE_FORMAT:
        raise ProofError(f"not a {BUNDLE_FORMAT} bundle (format {bundle.get('format')!r}).")
    checkpoint = Checkpoint.from_json(bundle["checkpoint"])
    checkpoint.verify(public_key)
    if origin is not None and checkpoint.origin != origin:
        raise ProofError(f"the checkpoint is for log {checkpoint.origin!r}, not {origin!r}.")
    if published is not None:
        published.verify(public_key)
        if published.origin != checkpoint.origin:
            raise ProofError("the published checkpoint is for another log.")
        if published.tree_size > checkpoint.tree_size:
            raise ProofError(
                f"the bundle proves against {checkpoint.tree_size} leaves, older than the "
                f"published checkpoint of {published.tree_size}; export it again with "
                "--checkpoint pointing at the published one."
            )
        if published.tree_size == checkpoint.tree_size:
            if published.root_hash != checkpoint.root_hash:
                raise ProofError(
                    f"two different signed roots for {published.tree_size} leaves: the log "
                    "forked (it showed different histories to different people)."
                )
        else:
            links = [
                link for link in bundle.get("consistency", [])
                if link.get("from_size") == published.tree_size
            ]
            if not links:
                raise ProofError(
                    f"the bundle has no consistency proof from {published.tree_size} leaves."
                )
            verify_consistency(
                published.tree_size,
                checkpoint.tree_size,
                published.root_hash,
                checkpoint.root_hash,
                _hashes(links[0]["proof"], "the consistency proof"),
            )

    session = bundle.get("session")
    entries: list[dict[str, Any]] = []
    for position, item in enumerate(bundle.get("entries", [])):
        index = item.get("index")
        where = f"entry {position} (leaf {index})"
        if not isinstance(index, int):
            raise ProofError(f"{where} has no leaf index.")
        entry = canonical_decode(str(item.get("body", "")))
        if entry.get("i") != index:
            raise ProofError(f"{where}: its body says leaf {entry.get('i')}.")
        if entry.get("session") != session:
            raise ProofError(f"{where} belongs to session {entry.get('session')}, not {session}.")
        if entry.get("seq") != position:
            raise ProofError(
                f"{where} is the session's entry {entry.get('seq')} but entry {position} was "
                "expected: an entry is missing from the bundle or they are out of order."
            )
        try:
            verify_inclusion(
                index,
                checkpoint.tree_size,
                leaf_hash(item["body"].encode("ascii")),
                _hashes(item.get("proof", []), f"{where}'s proof"),
                checkpoint.root_hash,
            )
        except ProofError as exc:
            raise ProofError(f"{where}: {exc} (the entry or its proof was altered)") from exc
        entries.append(entry)
    return entries


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--public-key", required=True, help="Base64 Ed25519 public key.")
    parser.add_argument("--checkpoint", type=Path, help="A published checkpoint (JSON).")
    parser.add_argument("--origin", help="The log's expected name.")
    args = parser.parse_args(argv)
    try:
        public_key = base64.b64decode(args.public_key, validate=True)
        bundle = json.loads(args.bundle.read_text())
        published = None
        if args.checkpoint is not None:
            published = Checkpoint.from_json(json.loads(args.checkpoint.read_text()))
        entries = verify_bundle(
            bundle, public_key=public_key, published=published, origin=args.origin
        )
    except (OSError, ValueError, KeyError, binascii.Error) as exc:
        # ProofError is a ValueError: every failure lands here with its reason.
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1
    checkpoint = bundle["checkpoint"]
    for entry in entries:
        print(f"  leaf {entry['i']:>8}  {entry['at']}  {entry['kind']}")
    print(
        f"OK: {len(entries)} entries of session {bundle['session']} are in the log of "
        f"{checkpoint['tree_size']} leaves signed at {checkpoint['timestamp']}."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
