"""Hourly usage rollups (``UsageHourly``, ``UsageLatencyHourly``) of ``UsageRecord``.

``roll_up()`` runs every ``USAGE_ROLLUP_INTERVAL`` seconds (Celery beat,
``gateway.roll_up_usage``). Under a lock on the one ``UsageRollupState`` row
(``select_for_update``; SQLite serializes writers anyway) and in one
transaction, it recomputes

- every hour in ``[complete_before, start of the current hour)``: all history
  on the first run, a day at a time; usually just the hour that closed;
- every closed hour before that touched by a record with an id above the
  watermark: records written late, such as journal lines replayed by
  ``gateway.usage.recover_journals`` or a batch flushed just after its hour
  closed, for the organizations they belong to;
- the ``UsageDaily`` rows of every whole day (all of its hours closed) those
  hours belong to, summed from its ``UsageHourly`` rows;

then sets ``complete_before`` to the current hour and ``watermark`` to the
highest record id it read at the start. To recompute is to delete that hour's
rollup rows and insert fresh ``GROUP BY`` results: exact and idempotent, so a
run repeated, interrupted (the transaction rolls back) or overlapping another
(it waits for the lock) never counts a call twice. Reports
(``gateway.reports``) read rollups before ``complete_before`` and raw records
from it on, so they are correct even if this never runs, only slower.

Ids are not handed out in commit order: a record inserted by a transaction
still open while a run reads the highest id (a journal replay of a dead
process, a batch flush) commits below that id, after the run. So each run
reads the ids above the watermark before the last one (``previous_watermark``)
again: a record committed out of order counts at the next run, as long as its
transaction was open for less than one run interval (a record committed out
of order during the very first run, the catch-up, is the exception).
Recomputing an hour twice changes nothing.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db import transaction
from django.db.models import Count, Max, Min, QuerySet, Sum
from django.db.models.functions import TruncDay, TruncHour
from django.utils import timezone

from gateway.histogram import bucket_of
from gateway.models import (
    UsageDaily,
    UsageHourly,
    UsageLatencyHourly,
    UsageRecord,
    UsageRollupState,
)
from gateway.reports import record_measures

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
BATCH = DAY
SUMS = ("requests", "errors", "input_tokens", "output_tokens", "cost")
FOREIGN_KEYS = ("user_id", "api_key_id", "model_id", "provider_id")
# The column of each dimension (the total has none).
DIMENSIONS: dict[str, str | None] = {
    UsageHourly.Dimension.TOTAL: None,
    UsageHourly.Dimension.USER: "user_id",
    UsageHourly.Dimension.API_KEY: "api_key_id",
    UsageHourly.Dimension.MODEL: "model_id",
    UsageHourly.Dimension.PROVIDER: "provider_id",
}


@dataclass(frozen=True)
class RollupRun:
    """What one ``roll_up`` did."""

    hours: int  # hours recomputed for every organization
    late_hours: int  # (organization, hour) pairs recomputed for late records
    complete_before: datetime
    watermark: int


def hour_of(moment: datetime) -> datetime:
    """The start of ``moment``'s UTC hour."""
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def day_of(moment: datetime) -> datetime:
    """The start of ``moment``'s UTC day."""
    return hour_of(moment).replace(hour=0)


def roll_up(now: datetime | None = None) -> RollupRun:
    """Bring the hourly rollups up to the start of the current hour (see module)."""
    current = hour_of(now or timezone.now())
    with transaction.atomic():
        # Created once; two first runs at once: one inserts, the other skips.
        UsageRollupState.objects.bulk_create(
            [UsageRollupState(pk=1)], ignore_conflicts=True
        )
        state = UsageRollupState.objects.select_for_update().get(pk=1)
        top = UsageRecord.objects.aggregate(top=Max("id"))["top"] or 0
        start = state.complete_before
        if start is None:
            first = UsageRecord.objects.aggregate(first=Min("created_at"))["first"]
            start = hour_of(first) if first is not None else current
        start = min(start, current)

        late: dict[datetime, set[int]] = {}
        touched = (
            UsageRecord.objects.filter(
                id__gt=state.previous_watermark, id__lte=top, created_at__lt=start
            )
            .annotate(hour=TruncHour("created_at", tzinfo=UTC))
            .values_list("hour", "organization_id")
            .distinct()
            .order_by()
        )
        for hour, organization_id in touched:
            late.setdefault(hour, set()).add(organization_id)
        late_days: dict[datetime, set[int]] = {}
        for hour, organizations in sorted(late.items()):
            _recompute(hour, hour + HOUR, organizations)
            late_days.setdefault(day_of(hour), set()).update(organizations)

        batch_start = start
        while batch_start < current:
            batch_end = min(batch_start + BATCH, current)
            _recompute(batch_start, batch_end)
            batch_start = batch_end

        # The whole days the window touched (from start's day to current's),
        # and those of late hours outside them. A day still open has no row.
        window_days = (day_of(start), day_of(current))
        if start == current:
            window_days = (current, current)
        _recompute_days(*window_days)
        for day, organizations in sorted(late_days.items()):
            if day + DAY <= current and not window_days[0] <= day < window_days[1]:
                _recompute_days(day, day + DAY, organizations)

        # The next run reads again the ids this one read above the last
        # watermark. After the first run (everything recomputed from the
        # first record on) there is nothing below to read again.
        first_run = state.complete_before is None
        state.previous_watermark = top if first_run else state.watermark
        state.complete_before = current
        state.watermark = max(state.watermark, top)
        state.save(update_fields=["complete_before", "watermark", "previous_watermark"])
    return RollupRun(
        hours=int((current - start) / HOUR),
        late_hours=sum(len(orgs) for orgs in late.values()),
        complete_before=current,
        watermark=state.watermark,
    )


def _recompute(
    since: datetime, until: datetime, organizations: set[int] | None = None
) -> None:
    """Replace the rollups of the hours in ``[since, until)`` (of ``organizations``)."""
    hourly: QuerySet[UsageHourly] = UsageHourly.objects.filter(
        hour__gte=since, hour__lt=until
    )
    latency: QuerySet[UsageLatencyHourly] = UsageLatencyHourly.objects.filter(
        hour__gte=since, hour__lt=until
    )
    records = UsageRecord.objects.filter(created_at__gte=since, created_at__lt=until)
    if organizations is not None:
        hourly = hourly.filter(organization_id__in=organizations)
        latency = latency.filter(organization_id__in=organizations)
        records = records.filter(organization_id__in=organizations)
    hourly.delete()
    latency.delete()

    by_hour = records.annotate(hour=TruncHour("created_at", tzinfo=UTC)).order_by()
    rows: list[UsageHourly] = []
    for dimension, column in DIMENSIONS.items():
        keys = ["organization_id", "hour", *([column] if column else [])]
        for row in by_hour.values(*keys).annotate(**record_measures()):
            rows.append(
                UsageHourly(
                    organization_id=row["organization_id"],
                    hour=row["hour"],
                    dimension=dimension,
                    requests=row["requests"],
                    errors=row["errors"],
                    input_tokens=row["input_tokens"],
                    output_tokens=row["output_tokens"],
                    cost=row["cost"],
                    **({column: row[column]} if column else {}),
                )
            )
    UsageHourly.objects.bulk_create(rows, batch_size=2000)

    buckets: Counter[tuple[int, datetime, int]] = Counter()
    latencies = by_hour.values_list("organization_id", "hour", "latency_ms").annotate(
        n=Count("id")
    )
    for organization_id, hour, ms, n in latencies:
        buckets[(organization_id, hour, bucket_of(ms))] += n
    UsageLatencyHourly.objects.bulk_create(
        [
            UsageLatencyHourly(
                organization_id=organization_id, hour=hour, bucket=bucket, requests=n
            )
            for (organization_id, hour, bucket), n in buckets.items()
        ],
        batch_size=2000,
    )


def _recompute_days(
    since: datetime, until: datetime, organizations: set[int] | None = None
) -> None:
    """Replace the ``UsageDaily`` rows of the days in ``[since, until)`` from
    their ``UsageHourly`` rows (``since`` and ``until`` start UTC days)."""
    daily: QuerySet[UsageDaily] = UsageDaily.objects.filter(
        day__gte=since, day__lt=until
    )
    hourly: QuerySet[UsageHourly] = UsageHourly.objects.filter(
        hour__gte=since, hour__lt=until
    )
    if organizations is not None:
        daily = daily.filter(organization_id__in=organizations)
        hourly = hourly.filter(organization_id__in=organizations)
    daily.delete()
    grouped = (
        hourly.annotate(day=TruncDay("hour", tzinfo=UTC))
        .values("organization_id", "day", "dimension", *FOREIGN_KEYS)
        .annotate(**{name: Sum(name) for name in SUMS})
        .order_by()
    )
    UsageDaily.objects.bulk_create(
        [UsageDaily(**row) for row in grouped], batch_size=2000
    )
