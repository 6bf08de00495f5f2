"""Print a new key entry for CREDENTIALS_KEYS."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from providers import crypto


class Command(BaseCommand):
    help = (
        "Print a new 'key-id:base64' entry for CREDENTIALS_KEYS. Put it first to "
        "encrypt new values with it, keep the old keys after it, then run "
        "rotate_credentials."
    )
    # A key is needed before the configuration is complete, so run no checks.
    requires_system_checks: list[str] = []

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(crypto.generate_key())
