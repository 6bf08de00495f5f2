"""gateway.reports: the dashboards' aggregates on real rows, SQLite and PostgreSQL.

Each report test runs twice: on raw records only (rollups never ran) and after
``roll_up`` (closed hours from rollups, the current hour raw): same answers.
"""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from gateway import histogram, reports
from gateway.models import ApiKey, UsageRecord
from gateway.rollup import roll_up
from tests.conftest import World
from tests.factories import AIModelFactory, ProviderFactory

NOW = datetime(2025, 3, 10, 12, 30, tzinfo=UTC)
rolled = pytest.mark.parametrize("rolled", [False, True], ids=["raw", "rolled"])


def percentile_cont(values: list[int], fraction: float) -> float | None:
    """PostgreSQL's percentile_cont: linear interpolation between nearest ranks."""
    if not values:
        return None
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def org_report(org: Any, key: str, rolled: bool, **kwargs: Any) -> Any:
    if rolled:
        roll_up(now=NOW)
    return reports.organization_report(org.pk, reports.RANGES[key], now=NOW, **kwargs)


def usage(org: Any, ago: timedelta, **fields: Any) -> UsageRecord:
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
    return UsageRecord.objects.create(organization=org, created_at=NOW - ago, **values)


@pytest.fixture
def setup(world: World) -> dict[str, Any]:
    provider = ProviderFactory(organization=world.acme, name="openai-main")
    model = AIModelFactory(provider=provider, model_id="gpt-4o-mini", name="GPT mini")
    bob_key, _ = ApiKey.issue(world.acme, world.bob, "bob-agent")
    alice_key, _ = ApiKey.issue(world.acme, world.alice, "alice-agent")
    other_provider = ProviderFactory(organization=world.globex, name="globex-p")
    return {
        "provider": provider,
        "model": model,
        "bob_key": bob_key,
        "alice_key": alice_key,
        "other_provider": other_provider,
    }


@rolled
def test_the_organization_report_counts_its_own_rows_in_range(
    world: World, setup: dict[str, Any], rolled: bool
) -> None:
    common = {"provider": setup["provider"], "model": setup["model"]}
    bob_key = setup["bob_key"]
    usage(world.acme, timedelta(hours=1), user=world.bob, api_key=bob_key, **common)
    usage(
        world.acme,
        timedelta(hours=2),
        user=world.alice,
        api_key=setup["alice_key"],
        status_code=502,
        error_type="upstream_error",
        latency_ms=300,
        input_tokens=7,
        output_tokens=0,
        cost=Decimal(0),
        **common,
    )
    # A 200 whose stream broke counts as an error too.
    usage(world.acme, timedelta(hours=3), user=world.bob, error_type="stream_broken")
    # Out of the 24 h range, and another organization's rows: never counted.
    usage(world.acme, timedelta(days=2), user=world.bob, cost=Decimal(5))
    usage(world.globex, timedelta(hours=1), user=world.charlie, cost=Decimal(100),
          provider=setup["other_provider"])  # fmt: skip

    report = org_report(world.acme, "24h", rolled)
    t = report.totals
    assert (t.requests, t.errors, t.input_tokens, t.output_tokens) == (3, 2, 27, 10)
    assert t.cost == Decimal("0.002")
    assert t.error_rate == pytest.approx(2 / 3)
    # Exact: 100 and 280; from the histogram within 10 %.
    assert t.p50_ms == pytest.approx(100, rel=0.1)
    assert t.p95_ms == pytest.approx(280, rel=0.1)

    week = reports.organization_report(world.acme.pk, reports.RANGES["7d"], now=NOW)
    assert week.totals.requests == 4 and week.totals.cost == Decimal("5.002")

    by_user = {g.label: g.requests for g in report.breakdowns["user"].rows}
    assert by_user == {"bob": 2, "alice": 1}
    by_provider = {g.label: g.requests for g in report.breakdowns["provider"].rows}
    assert by_provider == {"openai-main": 2, "No provider reached": 1}
    by_model = {g.label: g.requests for g in report.breakdowns["model"].rows}
    assert by_model == {"GPT mini": 2, "Unknown or deleted model": 1}
    by_key = {g.label: g.errors for g in report.breakdowns["api_key"].rows}
    assert by_key == {
        "bob-agent": 0,
        "alice-agent": 1,
        "Playground (no key) or a deleted key": 1,
    }
    assert "globex-p" not in str(report)


@rolled
def test_a_member_report_counts_only_their_own_usage(
    world: World, setup: dict[str, Any], rolled: bool
) -> None:
    usage(world.acme, timedelta(hours=1), user=world.bob, input_tokens=3)
    usage(world.acme, timedelta(days=3), user=world.bob, status_code=429)
    usage(world.acme, timedelta(days=31), user=world.bob)  # older than 30 days
    usage(world.acme, timedelta(hours=1), user=world.alice, input_tokens=1000)
    usage(world.globex, timedelta(hours=1), user=world.bob, input_tokens=1000)
    if rolled:
        roll_up(now=NOW)

    mine = reports.member_report(world.acme.pk, world.bob.pk, now=NOW)
    assert mine.totals.requests == 2
    assert mine.totals.errors == 1
    assert mine.totals.input_tokens == 13
    assert len(mine.series) == 30
    assert mine.series[-1].start == datetime(2025, 3, 10, tzinfo=UTC)
    assert [p.requests for p in mine.series[-4:]] == [1, 0, 0, 1]


@rolled
def test_series_fill_every_bucket_with_zeros_where_nothing_happened(
    world: World, rolled: bool
) -> None:
    usage(world.acme, timedelta(minutes=10))  # 12:20, the current hour
    usage(world.acme, timedelta(minutes=40))  # 11:50
    usage(world.acme, timedelta(minutes=45))  # 11:45
    usage(world.acme, timedelta(hours=23, minutes=30))  # 13:00 yesterday: first bucket
    usage(world.acme, timedelta(hours=24, minutes=31))  # 11:59 yesterday: out

    report = org_report(world.acme, "24h", rolled)
    points = report.series
    assert len(points) == 24
    assert points[0].start == datetime(2025, 3, 9, 13, tzinfo=UTC)
    assert points[-1].start == datetime(2025, 3, 10, 12, tzinfo=UTC)
    counts = [p.requests for p in points]
    assert counts[0] == 1 and counts[-2:] == [2, 1] and sum(counts) == 4
    assert points[5].p50_ms is None and points[5].cost == 0


@rolled
def test_an_empty_organization_reports_zeros(world: World, rolled: bool) -> None:
    report = org_report(world.acme, "30d", rolled)
    assert report.totals == reports.Totals()
    assert report.totals.error_rate == 0
    assert len(report.series) == 30
    assert all(p.requests == 0 for p in report.series)
    assert all(not b.rows and b.other is None for b in report.breakdowns.values())
    assert reports.member_report(world.acme.pk, world.bob.pk).totals.requests == 0


@rolled
def test_breakdowns_keep_the_top_n_and_sum_the_rest(world: World, rolled: bool) -> None:
    providers = [
        ProviderFactory(organization=world.acme, name=f"p{i}") for i in range(4)
    ]
    for i, provider in enumerate(providers):
        for _ in range(i + 1):
            usage(world.acme, timedelta(hours=1), provider=provider)
    report = org_report(world.acme, "24h", rolled, limit=2)
    b = report.breakdowns["provider"]
    assert [(g.label, g.requests) for g in b.rows] == [("p3", 4), ("p2", 3)]
    assert b.other is not None and b.other.requests == 3
    assert b.other.cost == Decimal("0.003")
    assert b.total.requests == 10


@pytest.mark.parametrize("range_key", list(reports.RANGES))
def test_the_query_count_does_not_depend_on_rows_or_range(
    world: World,
    setup: dict[str, Any],
    range_key: str,
    django_assert_num_queries: Any,
) -> None:
    rng = reports.RANGES[range_key]
    with django_assert_num_queries(10):
        reports.organization_report(world.acme.pk, rng, now=NOW)
    with django_assert_num_queries(3):
        reports.member_report(world.acme.pk, world.bob.pk, now=NOW)
    rows = [
        UsageRecord(
            organization=world.acme,
            user=world.bob if i % 2 else world.alice,
            api_key=setup["bob_key"] if i % 3 else setup["alice_key"],
            provider=setup["provider"],
            model=setup["model"],
            endpoint="chat",
            model_name="gpt-4o-mini",
            status_code=200 if i % 7 else 500,
            latency_ms=i,
            created_at=NOW - timedelta(minutes=37 * i),
        )
        for i in range(600)
    ]
    UsageRecord.objects.bulk_create(rows)
    with django_assert_num_queries(10):
        report = reports.organization_report(world.acme.pk, rng, now=NOW)
    with django_assert_num_queries(3):
        reports.member_report(world.acme.pk, world.bob.pk, now=NOW)
    with django_assert_num_queries(1):
        reports.provider_health(world.acme.pk)
    assert report.totals.requests > 0
    # The same once most of them are rolled up (the current hour stays raw).
    roll_up(now=NOW)
    with django_assert_num_queries(10):
        assert reports.organization_report(world.acme.pk, rng, now=NOW) == report
    with django_assert_num_queries(3):
        reports.member_report(world.acme.pk, world.bob.pk, now=NOW)


def test_every_whole_millisecond_falls_in_the_bucket_its_bounds_say() -> None:
    for ms in [*range(0, 5000), 2**31 - 1, 600_000, 10**9]:
        low, high = histogram.bounds(histogram.bucket_of(ms))
        assert low <= ms <= high
        assert high <= max(low * histogram.GROWTH, low)  # at most 10 % wide
    assert histogram.bucket_of(0) == 0 and histogram.bucket_of(1) == 1
    assert histogram.bucket_of(2**31 - 1) < 2**15  # fits a smallint


def test_histogram_percentiles_are_within_ten_percent_of_percentile_cont() -> None:
    """Against PostgreSQL's definition, on skewed random latencies and edge cases."""
    rng = random.Random(10)
    samples = [
        [int(rng.lognormvariate(6, 1)) for _ in range(2000)],
        [rng.choice([0, 1, 2, 3, 90_000]) for _ in range(101)],
        [7, 1, 100, 3, 3, 50, 9, 12, 2, 40, 5],
        [250],
    ]
    for values in samples:
        hist: dict[int, int] = {}
        for ms in values:
            b = histogram.bucket_of(ms)
            hist[b] = hist.get(b, 0) + 1
        for fraction in (0, 0.5, 0.9, 0.95, 0.99, 1):
            exact = percentile_cont(values, fraction)
            assert exact is not None
            got = histogram.percentile(hist, fraction)
            assert got == pytest.approx(exact, rel=0.1, abs=1e-9), (fraction, values)
    # One whole millisecond per bucket below 10 ms: exact there.
    assert histogram.percentile({histogram.bucket_of(7): 3}, 0.5) == 7
    assert histogram.percentile({}, 0.5) is None
    assert percentile_cont([1, 2, 3, 4], 0.95) == pytest.approx(3.85)
