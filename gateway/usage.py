"""Usage recording off the request path: journaled, then written in batches
by a process of its own.

The request path appends one line to this process's journal
(``gateway.journal``: one ``os.write``, durable across SIGKILL), and must do so
before the answer's last byte is sent. Every ``USAGE_FLUSH_INTERVAL`` seconds
the journal's segment is released, and an importer writes its records with one
prepared INSERT, stamps the keys' ``last_used_at`` and deletes the segment.

The importer is ``gateway.usage_writer``, a process of its own that each
gateway process starts at start-up (``USAGE_WRITER=process``, the default):
building the rows of a batch no longer competes with the event loop for the
GIL (it was a sixth to a quarter of a worker's samples). Elsewhere
(``USAGE_WRITER=thread``: tests, and processes without the ASGI lifespan) a
daemon thread of this process imports its own segments. ``flush()`` writes
this process's records at once, wherever they are. ``recover_journals()``
imports the segments of processes that died; every record has a UUID and
inserts skip UUIDs already stored, so nothing counts twice.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
import uuid
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

from django.conf import settings
from django.db import (
    DEFAULT_DB_ALIAS,
    IntegrityError,
    close_old_connections,
    connections,
    transaction,
)
from django.utils import timezone

from gateway import request_ids
from gateway.journal import (
    SUFFIX,
    Journal,
    importable_segments,
    lock_segment,
    read_segment,
)

logger = logging.getLogger(__name__)

FLUSH_SECONDS = 1.0
MILLION = Decimal(1_000_000)
THOUSAND = Decimal(1_000)

_journal = Journal(settings.USAGE_JOURNAL_DIR)
# Guards the journal: appends from other threads (an admin's Test), releases.
_lock = threading.Lock()
_flush_lock = threading.Lock()
_start_lock = threading.Lock()
_thread: threading.Thread | None = None
# Set when this process's segments are imported by a writer process instead.
_external_writer = False
# Records the journal refused (a full or read-only disk): written from memory.
_unjournaled: list[dict[str, Any]] = []


# The largest count a usage row holds (its PositiveIntegerField columns).
MAX_COUNT = 2**31 - 1


def bounded(value: Any) -> int:
    """A vendor's count as a usage row can hold it: 0 to ``MAX_COUNT``.

    Vendors (a tenant's own compatible server among them) report what they
    like; a count past the column would fail the writer's whole batch.
    """
    return min(max(int(value or 0), 0), MAX_COUNT)


def cost(
    input_tokens: int,
    output_tokens: int,
    input_price: Decimal,
    output_price: Decimal,
    *,
    cache_read_tokens: int = 0,
    cache_write_tokens: int = 0,
    cache_read_price: Decimal | None = None,
    cache_write_price: Decimal | None = None,
    search_units: int = 0,
    search_price: Decimal | None = None,
) -> Decimal:
    """A call's cost in USD from its token counts and per-million prices.

    ``input_tokens`` counts every prompt token; the cache reads and writes
    among them are billed at their own prices, or at the input price when the
    model has none (``None``). A rerank call's ``search_units`` bill at
    ``search_price`` per thousand (nothing when the model has none). Counts a
    vendor got wrong (more cached tokens than prompt tokens, negatives) are
    clamped, so a cost is never negative.
    """
    input_tokens, output_tokens = max(input_tokens, 0), max(output_tokens, 0)
    read, write = cache_parts(input_tokens, cache_read_tokens, cache_write_tokens)
    uncached = input_tokens - read - write
    total = (
        uncached * input_price
        + read * (input_price if cache_read_price is None else cache_read_price)
        + write * (input_price if cache_write_price is None else cache_write_price)
        + output_tokens * output_price
    ) / MILLION
    if search_price is not None and search_units > 0:
        total += search_units * search_price / THOUSAND
    return total


def cache_parts(input_tokens: int, read: int, write: int) -> tuple[int, int]:
    """The cache reads and writes clamped to parts of the prompt: 0 <= r + w <= in.

    Vendors report them apart from the prompt count; odd numbers must not
    make a cost negative or the stored parts exceed their whole.
    """
    read = min(max(read, 0), max(input_tokens, 0))
    return read, min(max(write, 0), max(input_tokens, 0) - read)


def cache_tokens(usage_data: dict[str, Any], prompt: int) -> tuple[int, int]:
    """(cache reads, cache writes) among a canonical usage's prompt tokens.

    PROTOCOLS.md 1.4: ``prompt_tokens_details`` holds ``cached_tokens`` and
    ``cache_creation_tokens``. The counts are the vendor's: anything but an int
    counts as 0, and they are clamped like ``cache_parts``.
    """
    details = usage_data.get("prompt_tokens_details")
    if not isinstance(details, dict):
        return 0, 0
    read, write = (
        value if isinstance(value, int) and not isinstance(value, bool) else 0
        for value in (
            details.get("cached_tokens"),
            details.get("cache_creation_tokens"),
        )
    )
    return cache_parts(prompt, read, write)


def record(**fields: Any) -> None:
    """Journal one usage record (never touches the database here).

    Durable when it returns: call it before the answer's last byte is sent.
    """
    fields.setdefault("created_at", timezone.now())
    fields.setdefault("uuid", uuid.uuid4())
    with _lock:
        try:
            _journal.append(fields)
        except OSError:
            # A full or read-only disk must not fail the call: the record is
            # kept in memory instead, and reaches the database unless this
            # process dies first (this process's thread writes it).
            logger.exception("usage journal not writable")
            _unjournaled.append(fields)
    if not _external_writer or _unjournaled:
        _ensure_thread()


def release() -> None:
    """Hand this process's current segment to the importers (periodic)."""
    with _lock:
        _journal.release()


def flush() -> int:
    """Write this process's journaled records now; returns how many were written.

    A segment another importer holds is waited for (it is written when that
    importer lets go of it).
    """
    with _flush_lock:
        release()
        written = _flush_unjournaled()
        for path in list(_journal.released):
            fd = lock_segment(path, wait=True)
            if fd is None:  # imported by another importer already
                continue
            try:
                written += _import_segment(fd, path)
            finally:
                os.close(fd)
        with _lock:
            _journal.pending()  # forgets the segments that are gone
        return written


def _flush_unjournaled() -> int:
    with _lock:
        batch = _unjournaled[:]
        del _unjournaled[: len(batch)]
    if not batch:
        return 0
    try:
        return _write(batch)
    except Exception:
        # The database is unreachable: kept for the next flush.
        with _lock:
            _unjournaled[:0] = batch
        raise


def discard_queued() -> None:
    """Drop this process's journaled records unwritten (tests)."""
    with _flush_lock, _lock:
        _journal.discard()
        _unjournaled.clear()


def queued() -> int:
    """How many records of this process wait to be written."""
    with _lock:
        return _journal.pending() + len(_unjournaled)


def journal_path() -> Path | None:
    """The journal segment this process appends to now (None before the first)."""
    return Path(_journal.path) if _journal.path else None


def recover_journals() -> int:
    """Import every segment no process writes to; returns records written.

    Those are the segments gateway processes released (``.ready``: the
    writer process's work) and the journals of processes that died (``.jnl``,
    unlocked: logged). Safe to run anywhere and concurrently (each segment is
    locked while it is imported; records already stored are skipped by their
    UUID). A database error leaves the segment for the next run.
    """
    imported = recovered = 0
    for fd, path in importable_segments(settings.USAGE_JOURNAL_DIR):
        try:
            written = _import_segment(fd, path)
        finally:
            os.close(fd)
        imported += written
        if path.endswith(SUFFIX):
            recovered += written
    if recovered:
        logger.warning("recovered %d usage records from dead processes", recovered)
    return imported


def _import_segment(fd: int, path: str) -> int:
    """Write one locked segment's records, then delete it; records written."""
    records = [_from_journal(r) for r in read_segment(fd)]
    written = _write(_with_provider_organizations(records)) if records else 0
    Path(path).unlink(missing_ok=True)
    return written


def _from_journal(data: dict[str, Any]) -> dict[str, Any]:
    """A journal line's values back to the types the writer queues."""
    if isinstance(data.get("created_at"), str):
        data["created_at"] = datetime.fromisoformat(data["created_at"])
    if data.get("cost") is not None:
        data["cost"] = Decimal(str(data["cost"]))
    return data


def _with_provider_organizations(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Fill the provider's organization into lines journaled before it was recorded.

    Such lines (written by a process of the previous release) name only the
    provider; one query finds the owners of those providers.
    """
    from providers.models import Provider

    missing = {
        r["provider_id"]
        for r in records
        if r.get("provider_id") and "provider_organization_id" not in r
    }
    if missing:
        owners = dict(
            Provider.objects.filter(pk__in=missing).values_list("pk", "organization_id")
        )
        for r in records:
            if r.get("provider_id") in owners and "provider_organization_id" not in r:
                r["provider_organization_id"] = owners[r["provider_id"]]
    return records


def _insert_many(batch: list[dict[str, Any]]) -> None:
    """One prepared INSERT executed for every record.

    ``bulk_create`` builds a model instance per row and, on SQLite, splits the
    batch into many statements; at gateway rates that cost a quarter of a
    worker's CPU in the profile. Values still go through each field's
    ``get_db_prep_save``, so types and time zones are stored as the ORM would.
    """
    from gateway.models import UsageRecord

    fields = [f for f in UsageRecord._meta.concrete_fields if not f.primary_key]
    defaults = {f.attname: f.get_default() for f in fields}
    quote = connections[DEFAULT_DB_ALIAS].ops.quote_name
    # A record replayed from a journal after its batch was committed is skipped.
    sql = "INSERT INTO {} ({}) VALUES ({}) ON CONFLICT ({}) DO NOTHING".format(
        quote(UsageRecord._meta.db_table),
        # A concrete field always has a column (the stub's "| None" is for others).
        ", ".join(quote(cast(str, f.column)) for f in fields),
        ", ".join(["%s"] * len(fields)),
        quote("uuid"),
    )
    conn = connections[DEFAULT_DB_ALIAS]  # resolved once, not per value
    prep = [(f.attname, f.get_db_prep_save) for f in fields]
    rows = [
        [to_db(record.get(name, defaults[name]), conn) for name, to_db in prep]
        for record in batch
    ]
    with transaction.atomic(), conn.cursor() as cursor:
        cursor.executemany(sql, rows)


def _write(batch: list[dict[str, Any]]) -> int:
    from gateway.models import ApiKey, UsageRecord

    written = len(batch)
    try:
        _insert_many(batch)
    except IntegrityError:
        # One bad record (say, its organization was deleted meanwhile) must not
        # sink the batch: write them one by one and drop the ones that fail.
        written = 0
        for fields in batch:
            try:
                with transaction.atomic():
                    UsageRecord.objects.bulk_create(
                        [UsageRecord(**fields)], ignore_conflicts=True
                    )
                written += 1
            except IntegrityError:
                # The writer runs outside any call: the line names the record's.
                token = request_ids.current.set(str(fields.get("request_id") or ""))
                try:
                    logger.warning("dropped a usage record that no longer fits")
                finally:
                    request_ids.current.reset(token)
    used = {f["api_key_id"] for f in batch if f.get("api_key_id")}
    if used:
        ApiKey.objects.filter(pk__in=used).update(last_used_at=timezone.now())
    return written


def _run() -> None:
    while True:
        time.sleep(getattr(settings, "USAGE_FLUSH_INTERVAL", FLUSH_SECONDS))
        try:
            flush()
        except Exception:
            logger.exception("usage writer failed; records stay journaled")
        finally:
            close_old_connections()


def _ensure_thread() -> None:
    global _thread
    if _thread is None or not _thread.is_alive():
        with _start_lock:
            if _thread is None or not _thread.is_alive():
                _thread = threading.Thread(
                    target=_run, name="usage-writer", daemon=True
                )
                _thread.start()


def writes_externally() -> bool:
    """Whether a writer process imports this process's segments."""
    return _external_writer


def use_external_writer(on: bool = True) -> None:
    """Leave this process's segments to a writer process (no thread here)."""
    global _external_writer
    _external_writer = on


os.register_at_fork(after_in_child=_journal.forget_after_fork)


@atexit.register
def _flush_at_exit() -> None:
    try:
        flush()
    except Exception:  # the database may already be gone at interpreter exit
        logger.exception("usage records lost at exit")
