"""Create an institution's API key and print it once: `manage.py create_api_key demo "Moodle"`."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from exams.models import Institution
from lms.api.services import api_key_create
from lms.models import ApiKey


class Command(BaseCommand):
    help = "Create an API key for an institution and print it (it is not shown again)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("institution", help="The institution's slug.")
        parser.add_argument("name", help="Who will use the key, e.g. 'Moodle production'.")
        parser.add_argument(
            "--scope",
            action="append",
            choices=ApiKey.Scope.values,
            dest="scopes",
            help="Repeat for several; default: read.",
        )

    def handle(self, *args: object, **options: object) -> None:
        slug = options["institution"]
        institution = Institution.objects.filter(slug=slug).first()
        if institution is None:
            raise CommandError(
                f"No institution with slug {slug!r}; create it in the admin first."
            )
        scopes = options["scopes"] or [ApiKey.Scope.READ]
        key, raw_key = api_key_create(
            institution=institution, name=str(options["name"]), scopes=scopes  # type: ignore[arg-type]
        )
        self.stderr.write(
            f"Created {key} with scopes {', '.join(key.scopes)}. Store the key now: only its "
            "hash is kept, so it cannot be shown again."
        )
        self.stdout.write(raw_key)
