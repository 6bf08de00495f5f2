"""Usage reports: pure aggregate queries over usage, one organization each.

Every report reads rollups (``UsageDaily`` for whole days, ``UsageHourly``
and ``UsageLatencyHourly`` for hours; kept by ``gateway.rollup``) for the
hours before the rollups' ``complete_before`` and raw ``UsageRecord`` rows
from there on (the current hour, and anything not rolled up yet), and merges
both in Python. Counts, tokens and costs are exact either way (costs as exact
as the backend stores them: SQLite keeps decimals as floats), so a report is
right even if the rollup task never ran, only slower. A fixed number of
queries whatever the rows, buckets or range:

- ``organization_report``: an org admin's dashboard (totals, a series by hour
  or day, top-N breakdowns by model, provider, key and user), 10 queries;
- ``member_report``: a member's own last 30 days by day, 3 queries;
- ``provider_health``: the organization's providers with their health, 1 query.

Latency percentiles (p50/p95 of the totals and of every bucket of the series)
come from merged log-scale histograms (``gateway.histogram``): within 10 % of
the exact ``percentile_cont`` value, about half that on average.

Buckets are cut in UTC (``TIME_ZONE`` is UTC). A call counts as an error when it
answered 4xx/5xx or ended with an error type (a stream broken after its 200).
The site's home page and the management API use these; nothing here knows HTTP.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from django.db.models import Count, DecimalField, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce, TruncDay, TruncHour
from django.utils import timezone

from gateway import histogram
from gateway.models import (
    UsageDaily,
    UsageHourly,
    UsageLatencyHourly,
    UsageRecord,
    UsageRollupState,
    UsageSums,
)
from providers.models import Provider

Unit = Literal["hour", "day"]
Dimension = Literal["model", "provider", "api_key", "user"]
DIMENSIONS: tuple[Dimension, ...] = ("model", "provider", "api_key", "user")
ERROR = Q(status_code__gte=400) | ~Q(error_type="")
MEMBER_DAYS = 30
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
COST_PLACES = Decimal("1e-10")


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
    """The organization's raw usage in ``[since, until)`` (only ``user_id``'s if given).

    Served by ``usage_org_time_idx`` (organization, -created_at).
    """
    rows = UsageRecord.objects.filter(
        organization_id=organization_id, created_at__gte=since, created_at__lt=until
    )
    if user_id is not None:
        rows = rows.filter(user_id=user_id)
    return rows.order_by()


def record_measures() -> dict[str, Any]:
    """The summed measures of ``UsageRecord`` rows (what rollups store)."""
    return {
        "requests": Count("id"),
        "errors": Count("id", filter=ERROR),
        "input_tokens": Coalesce(Sum("input_tokens"), 0),
        "output_tokens": Coalesce(Sum("output_tokens"), 0),
        "cost": Coalesce(
            Sum("cost"),
            Value(Decimal(0)),
            output_field=DecimalField(max_digits=24, decimal_places=10),
        ),
    }


def _rollup_measures() -> dict[str, Any]:
    """The same measures summed over ``UsageHourly`` or ``UsageDaily`` rows."""
    return {
        "requests": Sum("requests"),
        "errors": Sum("errors"),
        "input_tokens": Sum("input_tokens"),
        "output_tokens": Sum("output_tokens"),
        "cost": Sum("cost"),
    }


@dataclass
class _Sums:
    """Measures being added up from rollup and raw rows, with a latency histogram."""

    requests: int = 0
    errors: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost: Decimal = Decimal(0)
    latency: dict[int, int] = field(default_factory=dict)

    def add(self, row: Mapping[str, Any]) -> None:
        self.requests += int(row["requests"] or 0)
        self.errors += int(row["errors"] or 0)
        self.input_tokens += int(row["input_tokens"] or 0)
        self.output_tokens += int(row["output_tokens"] or 0)
        self.cost += Decimal(row["cost"] or 0)

    def add_latency(self, bucket: int, count: int) -> None:
        self.latency[bucket] = self.latency.get(bucket, 0) + int(count)

    def merge(self, other: _Sums) -> None:
        self.add(vars(other))
        for bucket, count in other.latency.items():
            self.add_latency(bucket, count)

    def measures(self, *, percentiles: bool = True) -> dict[str, Any]:
        """Keyword arguments for ``Totals`` and its subclasses."""
        return {
            "requests": self.requests,
            "errors": self.errors,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            # The column's precision: a no-op on PostgreSQL (exact numeric);
            # on SQLite (decimals stored as floats) the same sums then agree.
            "cost": self.cost.quantize(COST_PLACES),
            "p50_ms": histogram.percentile(self.latency, 0.5) if percentiles else None,
            "p95_ms": histogram.percentile(self.latency, 0.95) if percentiles else None,
        }


def rolled_up_before() -> datetime | None:
    """Rollups are complete before this hour; None before their first run (1 query)."""
    found: datetime | None = (
        UsageRollupState.objects.filter(pk=1)
        .values_list("complete_before", flat=True)
        .first()
    )
    return found


def _cut(since: datetime, until: datetime) -> datetime:
    """Where ``[since, until)`` turns from rollups to raw rows (1 query)."""
    complete_before = rolled_up_before()
    if complete_before is None:
        return since
    return min(max(complete_before, since), until)


def _rollups(
    organization_id: int,
    since: datetime,
    cut: datetime,
    *,
    whole_days: bool,
    **filters: Any,
) -> tuple[QuerySet[UsageDaily], QuerySet[UsageHourly]]:
    """The rollup rows covering ``[since, cut)``: ``UsageDaily`` for the whole
    UTC days inside it (when ``whole_days``), ``UsageHourly`` for the rest."""
    first = since.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if first < since:
        first += timedelta(days=1)
    last = cut.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if not whole_days or first >= last:
        first = last = since
    daily = UsageDaily.objects.filter(
        organization_id=organization_id, day__gte=first, day__lt=last, **filters
    ).order_by()
    # The hours before the first whole day and from the last one on, as two
    # ranges an index on (organization, dimension, hour) serves.
    hours = Q(hour__gte=since, hour__lt=first) | Q(hour__gte=last, hour__lt=cut)
    hourly = UsageHourly.objects.filter(
        hours, organization_id=organization_id, **filters
    ).order_by()
    return daily, hourly


def _trunc(unit: Unit, column: str) -> TruncHour | TruncDay:
    trunc = TruncHour if unit == "hour" else TruncDay
    return trunc(column, tzinfo=UTC)


def _series_sums(
    organization_id: int,
    starts: list[datetime],
    unit: Unit,
    until: datetime,
    cut: datetime,
    *,
    user_id: int | None = None,
    latency: bool = True,
) -> dict[datetime, _Sums]:
    """Sums per bucket of ``starts``: rollups before ``cut``, raw rows after.

    2 queries, plus 2 for the latency histograms when ``latency``.
    """
    buckets = {start: _Sums() for start in starts}
    since = starts[0]
    dimension: dict[str, Any] = {"dimension": UsageSums.Dimension.TOTAL}
    if user_id is not None:
        dimension = {"dimension": UsageSums.Dimension.USER, "user_id": user_id}
    daily, hourly = _rollups(
        organization_id, since, cut, whole_days=unit == "day", **dimension
    )
    raw = usage_rows(organization_id, cut, until, user_id=user_id)

    by_day = daily.annotate(t=_trunc(unit, "day")).values("t")
    by_hour = hourly.annotate(t=_trunc(unit, "hour")).values("t")
    rolled = by_day.annotate(**_rollup_measures()).union(
        by_hour.annotate(**_rollup_measures()), all=True
    )
    for row in rolled:
        buckets[row["t"]].add(row)
    raw_by_bucket = raw.annotate(t=_trunc(unit, "created_at")).values("t")
    for row in raw_by_bucket.annotate(**record_measures()):
        buckets[row["t"]].add(row)
    if latency:
        rolled_latency = (
            UsageLatencyHourly.objects.filter(
                organization_id=organization_id, hour__gte=since, hour__lt=cut
            )
            .annotate(t=_trunc(unit, "hour"))
            .values_list("t", "bucket")
            .annotate(n=Sum("requests"))
            .order_by()
        )
        for t, bucket, n in rolled_latency:
            buckets[t].add_latency(bucket, n)
        raw_latency = (
            raw.annotate(t=_trunc(unit, "created_at"))
            .values_list("t", "latency_ms")
            .annotate(n=Count("id"))
        )
        for t, ms, n in raw_latency:
            buckets[t].add_latency(histogram.bucket_of(ms), n)
    return buckets


def _total(buckets: dict[datetime, _Sums]) -> _Sums:
    total = _Sums()
    for sums in buckets.values():
        total.merge(sums)
    return total


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
    "api_key": "Playground (no key) or a deleted key",
    "user": "Service keys or deleted users",
}


@dataclass
class _Grouped:
    """One dimension's groups being added up: sums and names per grouped id."""

    sums: dict[int | None, _Sums] = field(default_factory=dict)
    names: dict[int | None, tuple[str, str]] = field(default_factory=dict)

    def add(self, dimension: Dimension, row: dict[str, Any]) -> None:
        key, label, detail = _GROUPS[dimension]
        group = row[key]
        self.sums.setdefault(group, _Sums()).add(row)
        if group is None:
            self.names[group] = (_MISSING[dimension], "")
        else:
            name = row[label] or row[detail] or _MISSING[dimension]
            self.names[group] = (str(name), str(row[detail] or ""))


def _breakdown_sums(
    organization_id: int, since: datetime, until: datetime, cut: datetime
) -> dict[Dimension, _Grouped]:
    """Every group of every dimension: rollups before ``cut``, raw rows after.

    1 query for the rollups (all dimensions, whole days from ``UsageDaily``),
    1 per dimension for raw rows.
    """
    grouped: dict[Dimension, _Grouped] = {d: _Grouped() for d in DIMENSIONS}
    columns = [column for d in DIMENSIONS for column in _GROUPS[d]]
    daily, hourly = _rollups(organization_id, since, cut, whole_days=True)
    total = UsageSums.Dimension.TOTAL
    rolled = (
        daily.exclude(dimension=total)
        .values("dimension", *columns)
        .annotate(**_rollup_measures())
        .union(
            hourly.exclude(dimension=total)
            .values("dimension", *columns)
            .annotate(**_rollup_measures()),
            all=True,
        )
    )
    for row in rolled:
        grouped[row["dimension"]].add(row["dimension"], row)
    raw = usage_rows(organization_id, cut, until)
    for dimension in DIMENSIONS:
        for row in raw.values(*_GROUPS[dimension]).annotate(**record_measures()):
            grouped[dimension].add(dimension, row)
    return grouped


def _breakdown(
    dimension: Dimension, grouped: _Grouped, total: Totals, limit: int
) -> Breakdown:
    """The top ``limit`` groups by requests, and the rest as one "other" row."""

    def rank(item: tuple[int | None, _Sums]) -> tuple[int, bool, int]:
        group, sums = item
        return (-sums.requests, group is None, group or 0)

    top = []
    for group, sums in sorted(grouped.sums.items(), key=rank)[:limit]:
        label, detail = grouped.names[group]
        top.append(
            Group(
                key=group,
                label=label,
                detail=detail,
                **sums.measures(percentiles=False),
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
    """An org admin's dashboard over ``report_range`` (10 queries)."""
    starts = report_range.bucket_starts(now)
    since, until = starts[0], starts[-1] + report_range.step
    cut = _cut(since, until)
    buckets = _series_sums(organization_id, starts, report_range.unit, until, cut)
    total = Totals(**_total(buckets).measures())
    grouped = _breakdown_sums(organization_id, since, until, cut)
    return OrganizationReport(
        range=report_range,
        totals=total,
        series=[Point(start=s, **buckets[s].measures()) for s in starts],
        breakdowns={d: _breakdown(d, grouped[d], total, limit) for d in DIMENSIONS},
    )


def member_report(
    organization_id: int, user_id: int, *, now: datetime | None = None
) -> MemberReport:
    """A member's own usage in the organization, last 30 days by day (3 queries)."""
    report_range = ReportRange("member", "Last 30 days", MEMBER_DAYS, "day")
    starts = report_range.bucket_starts(now)
    until = starts[-1] + report_range.step
    cut = _cut(starts[0], until)
    buckets = _series_sums(
        organization_id, starts, "day", until, cut, user_id=user_id, latency=False
    )
    return MemberReport(
        totals=Totals(**_total(buckets).measures(percentiles=False)),
        series=[
            Point(start=s, **buckets[s].measures(percentiles=False)) for s in starts
        ],
    )


def provider_health(organization_id: int) -> list[Provider]:
    """Every provider the organization owns, with its last health check (1 query)."""
    return list(
        Provider.objects.filter(organization_id=organization_id).order_by(
            "priority", "name"
        )
    )
