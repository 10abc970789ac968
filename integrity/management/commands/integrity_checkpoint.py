"""Sign a checkpoint (tree head) over the integrity log and print or save it for publishing."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from integrity.errors import IntegrityLogError
from integrity.management.commands._integrity_files import checkpoint_document, write_json
from integrity.services import checkpoint_from_row, integrity_checkpoint_create, public_key_for


class Command(BaseCommand):
    help = (
        "Sign a checkpoint over every committed leaf (or reuse the last one if nothing "
        "was appended) and write it as JSON, to publish outside this system."
    )

    def add_arguments(self, parser):
        parser.add_argument("--output", "-o", metavar="FILE", help="Default: standard output.")

    def handle(self, *args, output, **options):
        try:
            row = integrity_checkpoint_create()
        except IntegrityLogError as exc:
            raise CommandError(str(exc)) from exc
        checkpoint = checkpoint_from_row(row)
        document = checkpoint_document(checkpoint, public_key_for(row.key_id))
        write_json(output, document, self.stdout)
        if output not in (None, "-"):
            self.stdout.write(f"Checkpoint of {row.tree_size} leaves written to {output}.")
