"""Re-wrap every stored secret's data key under the current key-encryption key."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError, CommandParser

from providers import crypto
from providers.fields import EncryptedFieldsMixin, Sealed

REWRAPPED = "rewrapped"
CURRENT = "current"
CHANGED = "changed"

# A value that changes under us is re-read and tried again this many times.
ATTEMPTS = 3


@dataclass
class Failure:
    table: str
    pk: Any
    field: str
    reason: str


@dataclass
class Tally:
    rewrapped: int = 0
    current: int = 0
    failures: list[Failure] = field(default_factory=list)


def encrypted_models() -> list[type[EncryptedFieldsMixin]]:
    """Every installed model with encrypted fields."""
    return [
        model
        for model in apps.get_models()
        if issubclass(model, EncryptedFieldsMixin) and model.encrypted_field_names()
    ]


def rotate_value(
    instance: EncryptedFieldsMixin, name: str, *, dry_run: bool = False
) -> str:
    """Re-wrap one field of one row with a conditional update.

    ``instance`` holds the stored value as read. Returns ``REWRAPPED``,
    ``CURRENT`` (already under the current key; nothing written) or ``CHANGED``
    (the row no longer holds the value read, so it was left alone). Raises
    ``crypto.CryptoError`` when the value does not unwrap.
    """
    sealed = instance._sealed(name)
    if not sealed:
        return CURRENT
    rewrapped = crypto.rewrap(sealed.stored, instance._aad(name))
    if rewrapped is None:
        return CURRENT
    if dry_run:
        return REWRAPPED
    # Only replace the exact value we read: a concurrent edit wins, and a rerun
    # after an interruption never re-wraps a stale copy over a newer value.
    updated = (
        type(instance)
        ._base_manager.filter(pk=instance.pk, **{name: sealed})
        .update(**{name: Sealed(rewrapped)})
    )
    return REWRAPPED if updated else CHANGED


def _reason(exc: Exception) -> str:
    if isinstance(exc, crypto.CryptoError):
        return str(exc)
    # Other errors (e.g. from AWS) are named by type only: their text is not ours.
    return f"{type(exc).__name__} while re-wrapping the data key"


def rotate_field(
    model: type[EncryptedFieldsMixin],
    name: str,
    tally: Tally,
    *,
    batch_size: int,
    dry_run: bool,
) -> None:
    """Rotate one encrypted field of every row, in primary-key order and batches."""
    rows = (
        model._base_manager.exclude(**{name: Sealed("")})
        .only("pk", "uid", name)
        .order_by("pk")
    )
    last_pk = None
    while True:
        # Keyset pages keep no cursor open while we write to the same table.
        page = rows if last_pk is None else rows.filter(pk__gt=last_pk)
        batch = list(page[:batch_size])
        if not batch:
            return
        for instance in batch:
            rotate_row(model, instance, name, tally, dry_run=dry_run)
        last_pk = batch[-1].pk


def rotate_row(
    model: type[EncryptedFieldsMixin],
    instance: EncryptedFieldsMixin,
    name: str,
    tally: Tally,
    *,
    dry_run: bool,
) -> None:
    """Rotate one value into ``tally``, re-reading it if it changes under us."""
    table = model._meta.db_table
    for _ in range(ATTEMPTS):
        try:
            outcome = rotate_value(instance, name, dry_run=dry_run)
        except Exception as exc:
            tally.failures.append(Failure(table, instance.pk, name, _reason(exc)))
            return
        if outcome == REWRAPPED:
            tally.rewrapped += 1
            return
        if outcome == CURRENT:
            tally.current += 1
            return
        # Changed under us: re-read and judge the new value.
        fresh = model._base_manager.only("pk", "uid", name).filter(pk=instance.pk)
        current = fresh.first()
        if current is None:
            return  # deleted meanwhile: nothing left to rotate
        instance = current
    tally.failures.append(
        Failure(
            table,
            instance.pk,
            name,
            "the value kept changing during rotation; run the command again",
        )
    )


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored secret under the current key (the first of "
        "CREDENTIALS_KEYS, or CREDENTIALS_KMS_KEY_ID). Only the data keys are "
        "re-wrapped. Safe to interrupt and run again; exits non-zero if any value "
        "could not be rotated."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Check every value and report what would change; write nothing.",
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            default=500,
            help="Rows read per query (default 500).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        batch_size: int = options["batch_size"]
        dry_run: bool = options["dry_run"]
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        try:
            target = crypto.current_kid()
        except crypto.KeyConfigError as exc:
            raise CommandError(str(exc)) from None

        verb = "would be re-wrapped" if dry_run else "re-wrapped"
        self.stdout.write(f"Rotating stored secrets to key {target!r}.")
        total = Tally()
        for model in encrypted_models():
            for name in model.encrypted_field_names():
                tally = Tally()
                rotate_field(model, name, tally, batch_size=batch_size, dry_run=dry_run)
                self.stdout.write(
                    f"  {model._meta.db_table}.{name}: {tally.rewrapped} {verb}, "
                    f"{tally.current} already current, "
                    f"{len(tally.failures)} failed"
                )
                total.rewrapped += tally.rewrapped
                total.current += tally.current
                total.failures += tally.failures

        for failure in total.failures:
            self.stderr.write(
                f"  FAILED {failure.table} pk={failure.pk} field={failure.field}: "
                f"{failure.reason}"
            )
        self.stdout.write(
            f"Total: {total.rewrapped} {verb}, {total.current} already current, "
            f"{len(total.failures)} failed."
        )
        if total.failures:
            raise CommandError(
                f"{len(total.failures)} value(s) could not be rotated; keep the old "
                "keys configured until they are fixed."
            )
