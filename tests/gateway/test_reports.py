"""gateway.reports: the dashboards' aggregates on real rows, SQLite and PostgreSQL."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection

from gateway import reports
from gateway.models import ApiKey, UsageRecord
from gateway.percentile import SQLITE_FUNCTION, _SQLitePercentile, percentile_cont
from tests.conftest import World
from tests.factories import AIModelFactory, ProviderFactory

NOW = datetime(2025, 3, 10, 12, 30, tzinfo=UTC)


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


def test_the_organization_report_counts_its_own_rows_in_range(
    world: World, setup: dict[str, Any]
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

    report = reports.organization_report(world.acme.pk, reports.RANGES["24h"], now=NOW)
    t = report.totals
    assert (t.requests, t.errors, t.input_tokens, t.output_tokens) == (3, 2, 27, 10)
    assert t.cost == Decimal("0.002")
    assert t.error_rate == pytest.approx(2 / 3)
    assert (t.p50_ms, t.p95_ms) == (100, pytest.approx(280))

    week = reports.organization_report(world.acme.pk, reports.RANGES["7d"], now=NOW)
    assert week.totals.requests == 4 and week.totals.cost == Decimal("5.002")

    by_user = {g.label: g.requests for g in report.breakdowns["user"].rows}
    assert by_user == {"bob": 2, "alice": 1}
    by_provider = {g.label: g.requests for g in report.breakdowns["provider"].rows}
    assert by_provider == {"openai-main": 2, "No provider reached": 1}
    by_model = {g.label: g.requests for g in report.breakdowns["model"].rows}
    assert by_model == {"GPT mini": 2, "Unknown or deleted model": 1}
    by_key = {g.label: g.errors for g in report.breakdowns["api_key"].rows}
    assert by_key == {"bob-agent": 0, "alice-agent": 1, "Deleted key": 1}
    assert "globex-p" not in str(report)


def test_a_member_report_counts_only_their_own_usage(
    world: World, setup: dict[str, Any]
) -> None:
    usage(world.acme, timedelta(hours=1), user=world.bob, input_tokens=3)
    usage(world.acme, timedelta(days=3), user=world.bob, status_code=429)
    usage(world.acme, timedelta(days=31), user=world.bob)  # older than 30 days
    usage(world.acme, timedelta(hours=1), user=world.alice, input_tokens=1000)
    usage(world.globex, timedelta(hours=1), user=world.bob, input_tokens=1000)

    mine = reports.member_report(world.acme.pk, world.bob.pk, now=NOW)
    assert mine.totals.requests == 2
    assert mine.totals.errors == 1
    assert mine.totals.input_tokens == 13
    assert len(mine.series) == 30
    assert mine.series[-1].start == datetime(2025, 3, 10, tzinfo=UTC)
    assert [p.requests for p in mine.series[-4:]] == [1, 0, 0, 1]


def test_series_fill_every_bucket_with_zeros_where_nothing_happened(
    world: World,
) -> None:
    usage(world.acme, timedelta(minutes=10))  # 12:20, the current hour
    usage(world.acme, timedelta(minutes=40))  # 11:50
    usage(world.acme, timedelta(minutes=45))  # 11:45
    usage(world.acme, timedelta(hours=23, minutes=30))  # 13:00 yesterday: first bucket
    usage(world.acme, timedelta(hours=24, minutes=31))  # 11:59 yesterday: out

    report = reports.organization_report(world.acme.pk, reports.RANGES["24h"], now=NOW)
    points = report.series
    assert len(points) == 24
    assert points[0].start == datetime(2025, 3, 9, 13, tzinfo=UTC)
    assert points[-1].start == datetime(2025, 3, 10, 12, tzinfo=UTC)
    counts = [p.requests for p in points]
    assert counts[0] == 1 and counts[-2:] == [2, 1] and sum(counts) == 4
    assert points[5].p50_ms is None and points[5].cost == 0


def test_an_empty_organization_reports_zeros(world: World) -> None:
    report = reports.organization_report(world.acme.pk, reports.RANGES["30d"], now=NOW)
    assert report.totals == reports.Totals()
    assert report.totals.error_rate == 0
    assert len(report.series) == 30
    assert all(p.requests == 0 for p in report.series)
    assert all(not b.rows and b.other is None for b in report.breakdowns.values())
    assert reports.member_report(world.acme.pk, world.bob.pk).totals.requests == 0


def test_breakdowns_keep_the_top_n_and_sum_the_rest(world: World) -> None:
    providers = [
        ProviderFactory(organization=world.acme, name=f"p{i}") for i in range(4)
    ]
    for i, provider in enumerate(providers):
        for _ in range(i + 1):
            usage(world.acme, timedelta(hours=1), provider=provider)
    report = reports.organization_report(
        world.acme.pk, reports.RANGES["24h"], now=NOW, limit=2
    )
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
    with django_assert_num_queries(6):
        reports.organization_report(world.acme.pk, rng, now=NOW)
    with django_assert_num_queries(1):
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
    with django_assert_num_queries(6):
        report = reports.organization_report(world.acme.pk, rng, now=NOW)
    with django_assert_num_queries(1):
        reports.member_report(world.acme.pk, world.bob.pk, now=NOW)
    with django_assert_num_queries(1):
        reports.provider_health(world.acme.pk)
    assert report.totals.requests > 0


def test_percentiles_are_postgresqls_percentile_cont_on_every_backend(
    world: World,
) -> None:
    """The database's answer (PostgreSQL's own, or the SQLite aggregate) equals
    the SQLite aggregate run on the same rows and the textbook values."""
    latencies = [7, 1, 100, 3, 3, 50, 9, 12, 2, 40, 5]
    for ms in latencies:
        usage(world.acme, timedelta(hours=1), latency_ms=ms)
    rows = reports.usage_rows(world.acme.pk, NOW - timedelta(days=1), NOW)
    got = reports.totals(rows)

    # The SQLite path, on its own connection, with the same rows.
    lite = sqlite3.connect(":memory:")
    lite.create_aggregate(SQLITE_FUNCTION, 2, _SQLitePercentile)
    lite.execute("CREATE TABLE u (latency_ms INTEGER)")
    lite.executemany("INSERT INTO u VALUES (?)", [(ms,) for ms in latencies])
    lite_p50, lite_p95 = lite.execute(
        f"SELECT {SQLITE_FUNCTION}(latency_ms, 0.5),"
        f" {SQLITE_FUNCTION}(latency_ms, 0.95) FROM u"
    ).fetchone()

    assert got.p50_ms == lite_p50 == 7
    assert got.p95_ms == pytest.approx(lite_p95) == pytest.approx(75.0)
    assert percentile_cont([1, 2, 3, 4], 0.5) == 2.5
    assert percentile_cont([1, 2, 3, 4], 0.95) == pytest.approx(3.85)
    assert percentile_cont([], 0.5) is None
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT percentile_cont(0.95) WITHIN GROUP (ORDER BY x)"
                " FROM unnest(ARRAY[1, 2, 3, 4]) AS x"
            )
            assert cursor.fetchone()[0] == pytest.approx(3.85)
