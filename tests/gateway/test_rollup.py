"""gateway.rollup: hourly rollups give the reports the raw rows' exact numbers."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.conf import settings
from django.utils import timezone

from gateway import reports
from gateway.models import (
    ApiKey,
    UsageDaily,
    UsageHourly,
    UsageLatencyHourly,
    UsageRecord,
    UsageRollupState,
)
from gateway.rollup import roll_up
from gateway.tasks import roll_up_usage
from models_catalog.models import AIModel
from tests.conftest import World
from tests.factories import AIModelFactory, ProviderFactory
from tests.gateway.test_reports import percentile_cont

NOW = datetime(2025, 3, 10, 12, 30, tzinfo=UTC)
HOUR = timedelta(hours=1)


def record(org: Any, at: datetime, **fields: Any) -> UsageRecord:
    values: dict[str, Any] = {
        "endpoint": "chat",
        "model_name": "m",
        "status_code": 200,
        "latency_ms": 100,
        "input_tokens": 10,
        "output_tokens": 5,
        "cost": Decimal("0.001"),
    }
    values.update(fields)
    return UsageRecord.objects.create(organization=org, created_at=at, **values)


@pytest.fixture
def traffic(world: World) -> dict[str, Any]:
    """Three days of varied calls in acme and globex, with the current hour."""
    rng = random.Random(3)
    acme_providers = [
        ProviderFactory(organization=world.acme, name=f"acme-p{i}") for i in range(3)
    ]
    acme_models = [
        AIModelFactory(provider=acme_providers[i % 3], model_id=f"acme-m{i}")
        for i in range(4)
    ]
    acme_keys = [
        ApiKey.issue(world.acme, user, f"acme-k{i}")[0]
        for i, user in enumerate([world.alice, world.bob, None])
    ]
    globex_provider = ProviderFactory(organization=world.globex, name="globex-p")
    globex_model = AIModelFactory(provider=globex_provider, model_id="globex-m")
    globex_key, _ = ApiKey.issue(world.globex, world.charlie, "globex-k")
    rows = []
    for i in range(1500):
        at = NOW - timedelta(minutes=rng.randrange(0, 3 * 24 * 60))
        if i % 5 == 0:
            org, user, key = world.globex, world.charlie, globex_key
            model, provider = globex_model, globex_provider
        else:
            org, key = world.acme, rng.choice(acme_keys)
            user, model = key.user, rng.choice([*acme_models, None])
            provider = model.provider if model and i % 7 else None
        error = i % 13 == 0
        rows.append(
            UsageRecord(
                organization=org,
                user=user,
                api_key=key,
                model=model,
                provider=provider,
                endpoint="chat",
                model_name="m",
                input_tokens=rng.randrange(0, 3000),
                output_tokens=rng.randrange(0, 900),
                cost=Decimal(rng.randrange(0, 10**6)) / Decimal(10**9),
                latency_ms=int(rng.lognormvariate(6, 0.8)),
                status_code=503 if error else 200,
                error_type="upstream_error" if error else "",
                created_at=at,
            )
        )
    UsageRecord.objects.bulk_create(rows)
    return {"acme_models": acme_models, "acme_keys": acme_keys}


def all_reports(world: World) -> list[Any]:
    """Every report of both organizations, percentiles aside (checked apart)."""
    found: list[Any] = []
    for org in (world.acme, world.globex):
        for rng in reports.RANGES.values():
            report = reports.organization_report(org.pk, rng, now=NOW)
            found.append(
                replace(
                    report,
                    totals=replace(report.totals, p50_ms=None, p95_ms=None),
                    series=[
                        replace(p, p50_ms=None, p95_ms=None) for p in report.series
                    ],
                )
            )
        for user in (world.alice, world.bob, world.charlie):
            found.append(reports.member_report(org.pk, user.pk, now=NOW))
    return found


def rollup_rows() -> list[tuple[Any, ...]]:
    hourly = UsageHourly.objects.order_by(
        "organization", "hour", "dimension", "user", "api_key", "model", "provider"
    ).values_list(
        "organization",
        "hour",
        "dimension",
        "user",
        "api_key",
        "model",
        "provider",
        "requests",
        "errors",
        "input_tokens",
        "output_tokens",
        "cost",
    )
    latency = UsageLatencyHourly.objects.order_by(
        "organization", "hour", "bucket"
    ).values_list("organization", "hour", "bucket", "requests")
    return [*hourly, *latency]


def raw_only(world: World) -> list[Any]:
    """The reports as if the rollups had never run (every row read raw)."""
    state = UsageRollupState.objects.get(pk=1)
    UsageRollupState.objects.filter(pk=1).update(complete_before=None)
    try:
        return all_reports(world)
    finally:
        state.save()


@pytest.mark.django_db
def test_rollups_give_the_same_numbers_as_the_raw_rows(
    world: World, traffic: dict[str, Any]
) -> None:
    before = all_reports(world)  # nothing rolled up yet: all raw
    run = roll_up(now=NOW)
    assert run.complete_before == datetime(2025, 3, 10, 12, tzinfo=UTC)
    assert run.hours == 72  # from the oldest record's hour to 12:00
    assert all_reports(world) == before
    # Whole days also have daily rows (the 7- and 30-day reports read them),
    # equal to their hours; today, still open, has none.
    days = set(UsageDaily.objects.values_list("day", flat=True))
    assert days == {datetime(2025, 3, d, tzinfo=UTC) for d in (7, 8, 9)}
    for day in days:
        for org in (world.acme, world.globex):
            daily = UsageDaily.objects.get(organization=org, day=day, dimension="total")
            hours = UsageHourly.objects.filter(
                organization=org, hour__gte=day, hour__lt=day + timedelta(days=1),
                dimension="total",
            )  # fmt: skip
            assert daily.requests == sum(h.requests for h in hours) > 0
            assert daily.cost == sum((h.cost for h in hours), Decimal(0))

    # The 30-day totals are exact against the records themselves too.
    acme = UsageRecord.objects.filter(organization=world.acme)
    month = reports.organization_report(world.acme.pk, reports.RANGES["30d"], now=NOW)
    assert month.totals.requests == acme.count()
    assert month.totals.cost == sum((r.cost for r in acme), Decimal(0))
    assert month.totals.input_tokens == sum(r.input_tokens for r in acme)
    latencies = list(acme.values_list("latency_ms", flat=True))
    for got, fraction in ((month.totals.p50_ms, 0.5), (month.totals.p95_ms, 0.95)):
        assert got == pytest.approx(percentile_cont(latencies, fraction), rel=0.1)


@pytest.mark.django_db
def test_the_current_hour_is_read_raw_and_never_rolled_up(
    world: World, traffic: dict[str, Any]
) -> None:
    roll_up(now=NOW)
    current = datetime(2025, 3, 10, 12, tzinfo=UTC)
    assert not UsageHourly.objects.filter(hour__gte=current).exists()
    day = reports.organization_report(world.acme.pk, reports.RANGES["24h"], now=NOW)
    record(world.acme, NOW - timedelta(minutes=1), input_tokens=1000)
    after = reports.organization_report(world.acme.pk, reports.RANGES["24h"], now=NOW)
    assert after.totals.requests == day.totals.requests + 1
    assert after.series[-1].input_tokens == day.series[-1].input_tokens + 1000


@pytest.mark.django_db
def test_a_late_record_counts_after_the_next_run_and_never_twice(
    world: World, traffic: dict[str, Any]
) -> None:
    roll_up(now=NOW)
    rows = rollup_rows()
    again = roll_up(now=NOW)  # nothing new: nothing changes
    assert (again.hours, again.late_hours) == (0, 0)
    assert rollup_rows() == rows

    week = reports.organization_report(world.acme.pk, reports.RANGES["7d"], now=NOW)
    # A journal replay: an old hour, inserted after that hour was rolled up.
    record(world.acme, NOW - timedelta(days=2), cost=Decimal(7), input_tokens=70)
    stale = reports.organization_report(world.acme.pk, reports.RANGES["7d"], now=NOW)
    assert stale.totals.requests == week.totals.requests  # not until the next run

    run = roll_up(now=NOW)
    assert (run.hours, run.late_hours) == (0, 1)  # that hour of acme only
    fresh = reports.organization_report(world.acme.pk, reports.RANGES["7d"], now=NOW)
    assert fresh.totals.requests == week.totals.requests + 1
    assert fresh.totals.cost == week.totals.cost + 7
    assert fresh.totals.input_tokens == week.totals.input_tokens + 70
    assert all_reports(world) == raw_only(world)

    rows = rollup_rows()
    for _ in range(2):
        roll_up(now=NOW)
        assert rollup_rows() == rows
    assert all_reports(world) == raw_only(world)


@pytest.mark.django_db
def test_hours_that_close_are_rolled_up_by_the_next_run(
    world: World, traffic: dict[str, Any]
) -> None:
    roll_up(now=NOW)
    record(world.acme, NOW + timedelta(minutes=10))  # 12:40, the current hour
    later = NOW + timedelta(hours=2)
    run = roll_up(now=later)
    assert run.hours == 2 and run.complete_before == datetime(
        2025, 3, 10, 14, tzinfo=UTC
    )
    noon = UsageHourly.objects.get(
        organization=world.acme, hour=datetime(2025, 3, 10, 12, tzinfo=UTC),
        dimension=UsageHourly.Dimension.TOTAL,
    )  # fmt: skip
    assert (
        noon.requests
        == UsageRecord.objects.filter(
            organization=world.acme, created_at__gte=noon.hour, created_at__lt=later
        ).count()
    )


@pytest.mark.django_db
def test_two_organizations_never_mix(world: World, traffic: dict[str, Any]) -> None:
    roll_up(now=NOW)
    for org in (world.acme, world.globex):
        rows = UsageRecord.objects.filter(organization=org, created_at__lt=NOW)
        closed = rows.filter(created_at__lt=datetime(2025, 3, 10, 12, tzinfo=UTC))
        totals = UsageHourly.objects.filter(
            organization=org, dimension=UsageHourly.Dimension.TOTAL
        )
        assert sum(t.requests for t in totals) == closed.count()
        models = AIModel.objects.filter(provider__organization=org)
        keys = ApiKey.objects.filter(organization=org)
        own = {
            "user_id": {None, *org.memberships.values_list("user_id", flat=True)},
            "model_id": {None, *models.values_list("pk", flat=True)},
            "api_key_id": {None, *keys.values_list("pk", flat=True)},
            "provider_id": {None, *org.providers.values_list("pk", flat=True)},
        }
        for column, allowed in own.items():
            seen = set(
                UsageHourly.objects.filter(organization=org).values_list(
                    column, flat=True
                )
            )
            assert seen <= allowed
    globex = reports.organization_report(
        world.globex.pk, reports.RANGES["30d"], now=NOW
    )
    assert {g.detail for g in globex.breakdowns["model"].rows} == {"globex-m"}
    assert "acme" not in str(globex.breakdowns)


@pytest.mark.django_db
def test_deleting_what_usage_points_to_keeps_rollups_and_raw_rows_equal(
    world: World, traffic: dict[str, Any]
) -> None:
    roll_up(now=NOW)
    traffic["acme_models"][0].delete()
    traffic["acme_keys"][1].delete()
    world.bob.delete()
    assert all_reports(world) == raw_only(world)
    month = reports.organization_report(world.acme.pk, reports.RANGES["30d"], now=NOW)
    labels = {g.label for g in month.breakdowns["api_key"].rows}
    assert "Playground (no key) or a deleted key" in labels and "acme-k1" not in labels


@pytest.mark.django_db
def test_the_periodic_task_rolls_up_and_beat_schedules_it(world: World) -> None:
    assert roll_up_usage() == 0  # no usage at all: nothing to do
    record(world.acme, timezone.now() - timedelta(hours=3))  # late, for this run
    assert roll_up_usage() == 1
    assert UsageHourly.objects.filter(
        organization=world.acme, dimension=UsageHourly.Dimension.TOTAL, requests=1
    ).exists()
    entry = settings.CELERY_BEAT_SCHEDULE["roll-up-usage"]
    assert entry["task"] == "gateway.roll_up_usage"
    assert entry["schedule"] == settings.USAGE_ROLLUP_INTERVAL
    assert entry["options"]["expires"] < settings.USAGE_ROLLUP_INTERVAL


@pytest.mark.django_db(transaction=True)
def test_a_record_committed_after_a_higher_id_counts_at_the_next_run(
    world: World,
) -> None:
    """Ids are not commit order: a journal replay still open while a run reads
    the highest id commits below it. Found in review: it was never counted."""
    import threading

    from django.db import connections, transaction

    org = world.acme
    record(org, NOW - timedelta(hours=5))
    roll_up(NOW)
    inserted, release, finished = (
        threading.Event(),
        threading.Event(),
        threading.Event(),
    )

    def slow_replay() -> None:  # a dead process's record of 3 hours ago
        try:
            with transaction.atomic():
                record(org, NOW - timedelta(hours=3))
                inserted.set()
                release.wait(10)
        finally:
            connections.close_all()
            finished.set()

    writer = threading.Thread(target=slow_replay)
    writer.start()
    assert inserted.wait(10)
    # Another replica commits a higher id meanwhile; beat's run reads it.
    record(org, NOW + timedelta(minutes=1))
    roll_up(NOW + timedelta(minutes=2))
    release.set()
    assert finished.wait(10)
    writer.join()
    roll_up(NOW + timedelta(minutes=3))
    roll_up(NOW + timedelta(hours=2))

    report = reports.organization_report(
        org.pk, reports.RANGES["7d"], now=NOW + timedelta(hours=2)
    )
    assert (
        report.totals.requests
        == UsageRecord.objects.filter(organization=org).count()
        == 3
    )
