"""Create or update organizations, users, providers, models and grants from YAML."""

from __future__ import annotations

import os
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from bootstrap import sections


class Command(BaseCommand):
    help = (
        "Apply a bootstrap YAML file (default: BOOTSTRAP_FILE). The whole file is "
        "validated first; nothing is written unless all of it is valid. Running "
        "it again with the same file changes nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", nargs="?", help="Defaults to BOOTSTRAP_FILE.")
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Validate and report what would change, then roll back.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        path = options["file"] or settings.BOOTSTRAP_FILE
        if not path:
            raise CommandError("Give a file, or set BOOTSTRAP_FILE.")
        try:
            # ${VAR} interpolation is the file format's contract with the
            # process environment, so the command hands the environment over.
            plan = sections.load(path, os.environ)
            report = sections.apply(plan, dry_run=options["dry_run"])
        except sections.BootstrapError as exc:
            raise CommandError(str(exc)) from None
        suffix = " (dry run: rolled back)" if options["dry_run"] else ""
        self.stdout.write(f"Bootstrap from {path}{suffix}:")
        for line in report.lines():
            self.stdout.write(f"  {line}")
        if not report.changed:
            self.stdout.write("Nothing changed.")
