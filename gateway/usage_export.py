"""Usage as an org admin reads it: totals of a filtered set, its CSV, its numbers.

Who sees what (the admin list, its totals and its export): an organization
sees every record of its own keys in full, and every record its providers
served for other organizations with the caller's organization, model,
provider, endpoint, tokens (cache reads and writes too), cost, latency and
status, but never the other organization's user names, key names or request
ids (``is_own`` decides, per row).

The export streams: rows are read in keyset-paginated chunks of
``EXPORT_CHUNK`` and written as CSV lines as they go, so memory stays flat
however many rows match (``bench/usage_export.py`` measures it). Under ASGI
the body is an async iterator (Django would otherwise read a sync iterator
whole before sending it); each chunk's query runs in a thread.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from asgiref.sync import sync_to_async
from django.db.models import Count, Q, QuerySet, Sum

from gateway.models import UsageRecord

EXPORT_CHUNK = 2000
DASH = "—"
# What makes Excel, LibreOffice and Sheets read a cell as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n")

HEADER = [
    "time_utc",
    "organization",
    "user",
    "api_key",
    "provider_organization",
    "provider",
    "model",
    "endpoint",
    "source",
    "stream",
    "input_tokens",
    "output_tokens",
    "cost_usd",
    "latency_ms",
    "status_code",
    "error_type",
    # Added later: at the end, so existing consumers keep their column positions.
    "cache_read_tokens",
    "cache_creation_tokens",
    "request_id",
    "search_units",
]
# The columns read per row; the user's and key's names are blanked for a row
# of another organization (see the module docstring).
_COLUMNS = [
    "pk",
    "created_at",
    "organization_id",
    "organization__name",
    "user__username",
    "api_key__name",
    "provider_organization__name",
    "provider__name",
    "model_name",
    "endpoint",
    "source",
    "stream",
    "input_tokens",
    "output_tokens",
    "cost",
    "latency_ms",
    "status_code",
    "error_type",
    "cache_read_tokens",
    "cache_creation_tokens",
    "request_id",
    "search_units",
]


@dataclass(frozen=True)
class Totals:
    requests: int
    errors: int
    input_tokens: int
    output_tokens: int
    cost: Decimal


def totals(queryset: QuerySet[UsageRecord]) -> Totals:
    """Requests, errors (status 400 and up), tokens and cost of a set (1 query)."""
    sums = queryset.order_by().aggregate(
        requests=Count("pk"),
        errors=Count("pk", filter=Q(status_code__gte=400)),
        input_tokens=Sum("input_tokens"),
        output_tokens=Sum("output_tokens"),
        cost=Sum("cost"),
    )
    return Totals(
        requests=sums["requests"] or 0,
        errors=sums["errors"] or 0,
        input_tokens=sums["input_tokens"] or 0,
        output_tokens=sums["output_tokens"] or 0,
        cost=sums["cost"] or Decimal(0),
    )


def money(value: Decimal | None) -> str:
    """US dollars for people (the site's ``|money`` filter too).

    $0 for zero; under $1 two significant digits ($0.0042, $0.075, $0.50);
    under $1,000 cents ($12.40); from $1,000 whole dollars ($1,234).
    """
    if value is None:
        return DASH
    amount = Decimal(value)
    if amount == 0:
        return "$0"
    sign = "-" if amount < 0 else ""
    amount = abs(amount)
    if amount < 1:
        digits = max(2, -amount.adjusted() + 1)
        text = f"{amount.quantize(Decimal(1).scaleb(-digits), ROUND_HALF_UP):f}"
    elif amount < 1000:
        text = f"{amount.quantize(Decimal('0.01'), ROUND_HALF_UP):,f}"
    else:
        text = f"{amount.quantize(Decimal(1), ROUND_HALF_UP):,f}"
    return f"{sign}${text}"


def is_own(organization_id: int | None, own_ids: frozenset[int] | None) -> bool:
    """Whether a row's caller is one of the viewer's organizations (None: all)."""
    return own_ids is None or organization_id in own_ids


def _chunks(queryset: QuerySet[UsageRecord]) -> Iterator[list[tuple[Any, ...]]]:
    """The set's rows, newest first, ``EXPORT_CHUNK`` per query (keyset paging).

    Paging by (created_at, pk) instead of OFFSET keeps every query as cheap as
    the first; no cursor stays open between chunks. The AND-ed
    ``created_at <= last`` is what bounds the index scan: the (created_at, pk)
    comparison alone is an OR, which PostgreSQL applies only as a filter, so
    each chunk would walk (and throw away) every row already sent.
    """
    base = queryset.order_by("-created_at", "-pk").values_list(*_COLUMNS)
    after: tuple[datetime, int] | None = None
    while True:
        page = base
        if after is not None:
            at, pk = after
            page = base.filter(
                Q(created_at__lte=at),
                Q(created_at__lt=at) | Q(created_at=at, pk__lt=pk),
            )
        rows = list(page[:EXPORT_CHUNK])
        if not rows:
            return
        yield rows
        if len(rows) < EXPORT_CHUNK:
            return
        last = rows[-1]
        after = (last[1], last[0])


def cell(value: Any) -> Any:
    """A CSV cell that a spreadsheet reads as text, never as a formula.

    Names come from other tenants too (an organization's name is its admins'
    to change): text starting with ``= + - @``, a tab or a line break gets a
    leading ``'`` (OWASP's CSV injection advice). Numbers stay numbers.
    """
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


# Where ``rest`` (a row after its first six columns) holds the request id,
# blanked with the names for another organization's calls.
_REQUEST_ID = _COLUMNS.index("request_id") - 6


def _csv_lines(
    rows: Iterable[tuple[Any, ...]], own_ids: frozenset[int] | None
) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    for row in rows:
        (_pk, at, org_id, org, user, key, *rest) = row
        if not is_own(org_id, own_ids):
            user = key = rest[_REQUEST_ID] = ""
        cost = rest[8]
        rest[8] = f"{cost:f}" if cost is not None else ""
        writer.writerow([at.isoformat(), *map(cell, [org, user, key, *rest])])
    return out.getvalue().encode()


def _header() -> bytes:
    out = io.StringIO()
    csv.writer(out).writerow(HEADER)
    return out.getvalue().encode()


def csv_rows(
    queryset: QuerySet[UsageRecord], own_ids: frozenset[int] | None
) -> Iterator[bytes]:
    """The set as CSV, chunk by chunk (for a sync server)."""
    yield _header()
    for rows in _chunks(queryset):
        yield _csv_lines(rows, own_ids)


async def acsv_rows(
    queryset: QuerySet[UsageRecord], own_ids: frozenset[int] | None
) -> AsyncIterator[bytes]:
    """The set as CSV, chunk by chunk, each query in a thread (for ASGI)."""
    yield _header()
    chunks = _chunks(queryset)
    done: list[tuple[Any, ...]] = []

    def fetch() -> list[tuple[Any, ...]]:
        return next(chunks, done)

    while (rows := await sync_to_async(fetch)()) is not done:
        yield _csv_lines(rows, own_ids)
