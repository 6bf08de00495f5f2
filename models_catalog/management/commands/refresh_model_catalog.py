"""Load a newer price catalog and re-price the models it covers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from models_catalog.price_catalog import CatalogError, refresh


class Command(BaseCommand):
    help = (
        "Put a price and context-window catalog in force (a newer JSON file with "
        "--file, else the one in force again) and update every model whose "
        "prices are unset or came from the catalog; prices an admin set are "
        "never changed. A bad file is refused whole."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--file",
            type=Path,
            help="A catalog file in the format of models_catalog/data/"
            "model_catalog.json, with a newer as_of date.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path | None = options["file"]
        content = None
        if path is not None:
            try:
                content = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise CommandError(f"Cannot read {path}: {exc}") from None
        try:
            result = refresh(content)
        except CatalogError as exc:
            raise CommandError(f"{path or 'catalog'}: {exc}") from None
        catalog = result.catalog
        self.stdout.write(
            f"Price catalog of {catalog.as_of} in force "
            f"({catalog.model_count()} models of {len(catalog.vendors)} provider "
            "types)."
        )
        self.stdout.write(
            f"{len(result.priced)} models priced, {len(result.repriced)} re-priced, "
            f"{result.windows} context windows filled in."
        )
        for label in result.priced[:20] + result.repriced[:20]:
            self.stdout.write(f"  {label}")
