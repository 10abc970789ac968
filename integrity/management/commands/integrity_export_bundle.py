"""Export one session's log entries with proofs, for integrity/offline_verifier.py."""

from __future__ import annotations

import uuid

from django.core.management.base import BaseCommand, CommandError

from integrity.errors import IntegrityLogError
from integrity.management.commands._integrity_files import read_checkpoint, write_json
from integrity.services import integrity_session_bundle


class Command(BaseCommand):
    help = (
        "Write a session's entries with inclusion proofs against a signed checkpoint "
        "(the latest stored, or a published one given with --checkpoint)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--session", type=uuid.UUID, required=True)
        parser.add_argument("--checkpoint", metavar="FILE", help="Prove against this one.")
        parser.add_argument("--output", "-o", metavar="FILE", help="Default: standard output.")

    def handle(self, *args, session, checkpoint, output, **options):
        published = read_checkpoint(checkpoint) if checkpoint else None
        try:
            bundle = integrity_session_bundle(session_id=session, checkpoint=published)
        except IntegrityLogError as exc:
            raise CommandError(str(exc)) from exc
        write_json(output, bundle, self.stdout)
        if output not in (None, "-"):
            self.stdout.write(
                f"{len(bundle['entries'])} entries of session {session} written to {output}."
            )
