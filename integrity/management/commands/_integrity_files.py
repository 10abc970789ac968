"""Reading and writing the JSON files the integrity commands exchange with the outside."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from django.core.management.base import CommandError

from integrity import merkle


def read_checkpoint(path: str) -> merkle.Checkpoint:
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise CommandError(f"Cannot read the checkpoint file {path}: {exc}") from exc
    try:
        return merkle.Checkpoint.from_json(data)
    except merkle.ProofError as exc:
        raise CommandError(f"{path}: {exc}") from exc


def checkpoint_document(checkpoint: merkle.Checkpoint, public_key: bytes) -> dict[str, Any]:
    """The checkpoint as published: its signed fields, the signed text and the public key.

    The public key is there for convenience only; a verifier must use a copy obtained
    independently (docs/integrity.md, "Publishing checkpoints").
    """
    return {
        **checkpoint.to_json(),
        "signed_text": checkpoint.signed_text().decode(),
        "public_key": base64.b64encode(public_key).decode("ascii"),
    }


def write_json(path: str | None, data: dict[str, Any], stdout) -> None:
    text = json.dumps(data, indent=2, sort_keys=True) + "\n"
    if path in (None, "-"):
        stdout.write(text)
        return
    try:
        Path(path).write_text(text)
    except OSError as exc:
        raise CommandError(f"Cannot write {path}: {exc}") from exc
