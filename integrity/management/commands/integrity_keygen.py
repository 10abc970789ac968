"""Print a new signing key for PROCTOR_INTEGRITY_SIGNING_KEY and the public key to publish."""

from __future__ import annotations

import base64

from django.core.management.base import BaseCommand

from integrity.keys import active_key, generate_key, load_key


class Command(BaseCommand):
    help = (
        "Generate an Ed25519 signing key for the integrity log (or, with --public, print "
        "the active key's public half, which verifiers of published checkpoints need)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--public", action="store_true", help="Show the active public key.")

    def handle(self, *args, public, **options):
        key = active_key() if public else load_key("new key", secret := generate_key())
        if not public:
            self.stdout.write(f"PROCTOR_INTEGRITY_SIGNING_KEY={secret}")
        self.stdout.write(f"public key: {base64.b64encode(key.public_bytes).decode()}")
        self.stdout.write(f"key id: {key.key_id}")
