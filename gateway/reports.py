"""Usage reports: pure aggregate queries over ``UsageRecord``, one organization each.

Every function takes ids (an organization, optionally a user) and a time range,
and runs a fixed number of queries whatever the number of rows or buckets:

- ``totals``: one query (requests, errors, tokens, cost, latency p50/p95);
- ``series``: one query, one row per hour or day, empty buckets filled with zeros;
- ``breakdown``: one query, the top N groups by requests plus an "other" row;
- ``organization_report``: an org admin's dashboard, 6 queries;
- ``member_report``: a member's own last 30 days by day, 1 query;
- ``provider_health``: the organization's providers with their health, 1 query.

Buckets are cut in UTC (``TIME_ZONE`` is UTC). A call counts as an error when it
answered 4xx/5xx or ended with an error type (a stream broken after its 200).
The site's home page and the management API use these; nothing here knows HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from django.db.models import Count, DecimalField, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce, TruncDay, TruncHour
from django.utils import timezone

from gateway.models import UsageRecord
from gateway.percentile import Percentile
from providers.models import Provider

Unit = Literal["hour", "day"]
Dimension = Literal["model", "provider", "api_key", "user"]
ERROR = Q(status_code__gte=400) | ~Q(error_type="")
MEMBER_DAYS = 30
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class ReportRange:
    """A dashboard range: ``buckets`` hours or days, ending with the current one."""

    key: str
    label: str
    buckets: int
    unit: Unit

    @property
    def step(self) -> timedelta:
        return timedelta(hours=1) if self.unit == "hour" else timedelta(days=1)

    def bucket_starts(self, now: datetime | None = None) -> list[datetime]:
        """The start of every bucket, oldest first, in UTC."""
        now = (now or timezone.now()).astimezone(UTC)
        last = now.replace(minute=0, second=0, microsecond=0)
        if self.unit == "day":
            last = last.replace(hour=0)
        return [last - self.step * i for i in range(self.buckets - 1, -1, -1)]


RANGES: dict[str, ReportRange] = {
    r.key: r
    for r in (
        ReportRange("24h", "Last 24 hours", 24, "hour"),
        ReportRange("7d", "Last 7 days", 7, "day"),
        ReportRange("30d", "Last 30 days", 30, "day"),
    )
}
DEFAULT_RANGE = "7d"


@dataclass(frozen=True)
class Totals:
    requests: int = 0
    errors: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost: Decimal = Decimal(0)
    p50_ms: float | None = None
    p95_ms: float | None = None

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass(frozen=True)
class Point(Totals):
    """One bucket of a series."""

    start: datetime = EPOCH


@dataclass(frozen=True)
class Group(Totals):
    """One row of a breakdown: ``key`` is the grouped id (None: no such row)."""

    key: int | None = None
    label: str = ""
    detail: str = ""


@dataclass(frozen=True)
class Breakdown:
    dimension: Dimension
    rows: list[Group]
    other: Group | None
    total: Totals


@dataclass(frozen=True)
class OrganizationReport:
    range: ReportRange
    totals: Totals
    series: list[Point]
    breakdowns: dict[Dimension, Breakdown] = field(default_factory=dict)


@dataclass(frozen=True)
class MemberReport:
    totals: Totals
    series: list[Point]


def usage_rows(
    organization_id: int,
    since: datetime,
    until: datetime,
    *,
    user_id: int | None = None,
) -> QuerySet[UsageRecord]:
    """The organization's usage in ``[since, until)`` (only ``user_id``'s if given).

    Served by ``usage_org_time_idx`` (organization, -created_at).
    """
    rows = UsageRecord.objects.filter(
        organization_id=organization_id, created_at__gte=since, created_at__lt=until
    )
    if user_id is not None:
        rows = rows.filter(user_id=user_id)
    return rows.order_by()


def _measures(percentiles: bool) -> dict[str, Any]:
    measures: dict[str, Any] = {
        "requests": Count("id"),
        "errors": Count("id", filter=ERROR),
        "input_tokens": Coalesce(Sum("input_tokens"), 0),
        "output_tokens": Coalesce(Sum("output_tokens"), 0),
        "cost": Coalesce(
            Sum("cost"),
            Value(Decimal(0)),
            output_field=DecimalField(max_digits=18, decimal_places=10),
        ),
    }
    if percentiles:
        measures["p50_ms"] = Percentile("latency_ms", 0.5)
        measures["p95_ms"] = Percentile("latency_ms", 0.95)
    return measures


def _totals(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "requests": int(row["requests"] or 0),
        "errors": int(row["errors"] or 0),
        "input_tokens": int(row["input_tokens"] or 0),
        "output_tokens": int(row["output_tokens"] or 0),
        "cost": Decimal(row["cost"] or 0),
        "p50_ms": row.get("p50_ms"),
        "p95_ms": row.get("p95_ms"),
    }


def totals(rows: QuerySet[UsageRecord], *, percentiles: bool = True) -> Totals:
    """Everything in ``rows`` summed up (1 query)."""
    return Totals(**_totals(rows.aggregate(**_measures(percentiles))))


def series(
    rows: QuerySet[UsageRecord],
    starts: list[datetime],
    unit: Unit,
    *,
    percentiles: bool = True,
) -> list[Point]:
    """One point per bucket of ``starts`` (UTC), zeros in empty ones (1 query)."""
    trunc = TruncHour if unit == "hour" else TruncDay
    grouped = (
        rows.annotate(bucket=trunc("created_at", tzinfo=UTC))
        .values("bucket")
        .annotate(**_measures(percentiles))
        .order_by("bucket")
    )
    found: dict[datetime, dict[str, Any]] = {
        row["bucket"]: dict(row) for row in grouped
    }
    points = []
    for start in starts:
        row = found.get(start)
        points.append(Point(start=start, **_totals(row)) if row else Point(start=start))
    return points


# The grouped column and the columns naming each group, per dimension.
_GROUPS: dict[Dimension, tuple[str, str, str]] = {
    "model": ("model_id", "model__name", "model__model_id"),
    "provider": ("provider_id", "provider__name", "provider__provider_type"),
    "api_key": ("api_key_id", "api_key__name", "api_key__prefix"),
    "user": ("user_id", "user__username", "user__email"),
}
_MISSING: dict[Dimension, str] = {
    "model": "Unknown or deleted model",
    "provider": "No provider reached",
    "api_key": "Deleted key",
    "user": "Organization service keys",
}


def breakdown(
    rows: QuerySet[UsageRecord],
    dimension: Dimension,
    total: Totals,
    *,
    limit: int = 10,
) -> Breakdown:
    """The top ``limit`` groups by requests, and the rest as one "other" row (1 query).

    ``total`` is ``totals(rows)``: "other" is what the top rows leave of it.
    """
    key, label, detail = _GROUPS[dimension]
    grouped = (
        rows.values(key, label, detail)
        .annotate(**_measures(False))
        .order_by("-requests", key)[:limit]
    )
    top = []
    for row in grouped:
        name = row[label] or row[detail] or _MISSING[dimension]
        if row[key] is None:
            name = _MISSING[dimension]
        top.append(
            Group(
                key=row[key],
                label=str(name),
                detail=str(row[detail] or "") if row[key] is not None else "",
                **_totals(row),
            )
        )
    rest = Group(
        key=None,
        label="Other",
        requests=total.requests - sum(g.requests for g in top),
        errors=total.errors - sum(g.errors for g in top),
        input_tokens=total.input_tokens - sum(g.input_tokens for g in top),
        output_tokens=total.output_tokens - sum(g.output_tokens for g in top),
        cost=total.cost - sum((g.cost for g in top), Decimal(0)),
    )
    return Breakdown(dimension, top, rest if rest.requests else None, total)


def organization_report(
    organization_id: int,
    report_range: ReportRange,
    *,
    now: datetime | None = None,
    limit: int = 10,
) -> OrganizationReport:
    """An org admin's dashboard over ``report_range`` (6 queries)."""
    starts = report_range.bucket_starts(now)
    rows = usage_rows(organization_id, starts[0], starts[-1] + report_range.step)
    total = totals(rows)
    dimensions: tuple[Dimension, ...] = ("model", "provider", "api_key", "user")
    return OrganizationReport(
        range=report_range,
        totals=total,
        series=series(rows, starts, report_range.unit),
        breakdowns={d: breakdown(rows, d, total, limit=limit) for d in dimensions},
    )


def member_report(
    organization_id: int, user_id: int, *, now: datetime | None = None
) -> MemberReport:
    """A member's own usage in the organization, last 30 days by day (1 query)."""
    report_range = ReportRange("member", "Last 30 days", MEMBER_DAYS, "day")
    starts = report_range.bucket_starts(now)
    rows = usage_rows(
        organization_id, starts[0], starts[-1] + report_range.step, user_id=user_id
    )
    points = series(rows, starts, "day", percentiles=False)
    total = Totals(
        requests=sum(p.requests for p in points),
        errors=sum(p.errors for p in points),
        input_tokens=sum(p.input_tokens for p in points),
        output_tokens=sum(p.output_tokens for p in points),
        cost=sum((p.cost for p in points), Decimal(0)),
    )
    return MemberReport(totals=total, series=points)


def provider_health(organization_id: int) -> list[Provider]:
    """Every provider the organization owns, with its last health check (1 query)."""
    return list(
        Provider.objects.filter(organization_id=organization_id).order_by(
            "priority", "name"
        )
    )
