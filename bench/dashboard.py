"""Time the home dashboards' queries on a million usage rows (PostgreSQL).

    .venv/bin/python -m bench.dashboard                  # 1,000,000 rows, 7 runs
    .venv/bin/python -m bench.dashboard --rows 20000 --runs 3 --noise 5000
    .venv/bin/python -m bench.dashboard --explain   # + EXPLAIN ANALYZE per query

Uses ``BENCH_DATABASE_URL`` (default
``postgres://postgres@127.0.0.1:5432/mg_dash_bench``): creates the database if
missing, migrates it, and (re)generates the rows when their count differs:
``--rows`` usage rows for organization ``dash-bench`` spread evenly over the
last 30 days (every row inside the 30-day range: the worst case), across 40
users, 80 keys, 6 providers and 24 models, 3 % errors, plus ``--noise`` rows of
three other organizations. Rows are made in SQL by ``generate_series`` (one
INSERT ... SELECT, about 10 s for a million). Then it rebuilds the hourly
rollups from nothing (``gateway.rollup.roll_up`` up to the hour before the
current one: the one-off catch-up of a first run) and times one steady-state
run (the hour that just closed, about 1,400 rows), and times
``gateway.reports.organization_report`` over 24 h, 7 d and 30 d and
``member_report`` (one user's 30 days), printing the queries each makes and the
median, min and max milliseconds over ``--runs`` runs (after one warm-up run).
``--no-rollup`` times the reports on raw rows only (rollups emptied), as
before the first run. A SQLite URL works too (slower generation, a Python
insert).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/mg_dash_bench"
ORG = "dash-bench"
USERS, KEYS, PROVIDERS, MODELS = 40, 80, 6, 24


def _setup(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DEBUG", "true")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    if url.startswith("postgres"):
        _create_database(url)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def _create_database(url: str) -> None:
    import psycopg

    base, _, name = url.rpartition("/")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [name]
        ).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


def _seed_catalog(slug: str) -> dict[str, list[int]]:
    """An organization with users, keys, providers and models; their ids."""
    from accounts.models import Membership, Organization, User
    from gateway.models import ApiKey
    from models_catalog.models import AIModel
    from providers.models import Provider

    org = Organization.objects.create(slug=slug, name=slug.title())
    users = User.objects.bulk_create(
        [User(username=f"{slug}-user{i}") for i in range(USERS)]
    )
    Membership.objects.bulk_create(
        [Membership(user=u, organization=org) for u in users]
    )
    keys = []
    for i in range(KEYS):
        key = ApiKey(organization=org, user=users[i % USERS], name=f"agent-{i}")
        key.set_secret()
        keys.append(key)
    ApiKey.objects.bulk_create(keys)
    providers = Provider.objects.bulk_create(
        [
            Provider(organization=org, name=f"p{i}", provider_type="openai")
            for i in range(PROVIDERS)
        ]
    )
    models = AIModel.objects.bulk_create(
        [
            AIModel(
                organization=org,
                provider=providers[i % PROVIDERS],
                model_id=f"model-{i}",
                name=f"Model {i}",
            )
            for i in range(MODELS)
        ]
    )
    return {
        "org": [org.pk],
        "users": [u.pk for u in users],
        "keys": [k.pk for k in keys],
        "providers": [p.pk for p in providers],
        "models": [m.pk for m in models],
    }


INSERT = """
INSERT INTO gateway_usagerecord (
    organization_id, user_id, api_key_id, provider_id, model_id, endpoint,
    model_name, stream, input_tokens, output_tokens, cost, latency_ms, ttfb_ms,
    status_code, error_type, usage_estimated, created_at, uuid, source)
SELECT %(org)s,
    (%(users)s::bigint[])[1 + i %% %(n_users)s],
    (%(keys)s::bigint[])[1 + i %% %(n_keys)s],
    (%(providers)s::bigint[])[1 + i %% %(n_providers)s],
    (%(models)s::bigint[])[1 + (i / 7) %% %(n_models)s],
    'chat', 'model', (i %% 3 = 0),
    50 + (i * 7919) %% 2000, (i * 104729) %% 800,
    ((50 + (i * 7919) %% 2000) * 0.15 + ((i * 104729) %% 800) * 0.6) / 1000000,
    80 + (i * 48271) %% 1500 + CASE WHEN i %% 50 = 0 THEN 6000 ELSE 0 END,
    NULL,
    CASE WHEN i %% 33 = 0 THEN 502 ELSE 200 END,
    CASE WHEN i %% 33 = 0 THEN 'upstream_error' ELSE '' END,
    false,
    now() - (interval '30 days' * i / %(rows)s),
    md5(%(org)s || ':' || i)::uuid,
    'api'
FROM generate_series(1::bigint, %(rows)s::bigint) AS i
"""


def _generate(rows: int, noise: int) -> None:
    from django.db import connection

    from accounts.models import Organization, User
    from gateway.models import UsageRecord

    old = Organization.objects.filter(slug__startswith=ORG)
    UsageRecord.objects.filter(organization__in=old)._raw_delete(connection.alias)
    old.delete()
    User.objects.filter(username__startswith=ORG).delete()
    targets = [(ORG, rows)] + [
        (f"{ORG}-noise{i}", noise // 3) for i in range(3) if noise
    ]
    for slug, count in targets:
        ids = _seed_catalog(slug)
        started = time.perf_counter()
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(
                    INSERT,
                    {
                        "org": ids["org"][0],
                        "rows": count,
                        **{k: ids[k] for k in ("users", "keys", "providers", "models")},
                        **{f"n_{k}": len(ids[k]) for k in ids if k != "org"},
                    },
                )
        else:
            _generate_python(ids, count)
        took = time.perf_counter() - started
        print(f"  {slug}: {count:,} rows in {took:.1f} s", flush=True)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE gateway_usagerecord")


def _generate_python(ids: dict[str, list[int]], count: int) -> None:
    from datetime import timedelta
    from decimal import Decimal

    from django.utils import timezone

    from gateway.models import UsageRecord

    now = timezone.now()
    batch: list[UsageRecord] = []
    for i in range(1, count + 1):
        error = i % 33 == 0
        batch.append(
            UsageRecord(
                organization_id=ids["org"][0],
                user_id=ids["users"][i % USERS],
                api_key_id=ids["keys"][i % KEYS],
                provider_id=ids["providers"][i % PROVIDERS],
                model_id=ids["models"][(i // 7) % MODELS],
                endpoint="chat",
                model_name="model",
                input_tokens=50 + (i * 7919) % 2000,
                output_tokens=(i * 104729) % 800,
                cost=Decimal("0.0001"),
                latency_ms=80 + (i * 48271) % 1500,
                status_code=502 if error else 200,
                error_type="upstream_error" if error else "",
                created_at=now - timedelta(days=30) * i / count,
            )
        )
        if len(batch) == 5000:
            UsageRecord.objects.bulk_create(batch)
            batch = []
    UsageRecord.objects.bulk_create(batch)


def _timed(fn: Callable[[], Any], runs: int) -> tuple[int, list[float]]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    fn()  # warm-up: plans and caches, as on a server that has served before
    times = []
    queries = 0
    for _ in range(runs):
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            fn()
            times.append((time.perf_counter() - started) * 1000)
        queries = len(captured.captured_queries)
    return queries, times


def _explain(fn: Callable[[], Any]) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        fn()
    with connection.cursor() as cursor:
        for q in captured.captured_queries:
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + q["sql"])
            print("\n".join(row[0] for row in cursor.fetchall()), end="\n\n")


def _roll_up(*, enabled: bool) -> None:
    """Empty the rollups; unless disabled, rebuild them and time it."""
    from datetime import timedelta

    from django.db import connection
    from django.utils import timezone

    from gateway.models import (
        UsageDaily,
        UsageHourly,
        UsageLatencyHourly,
        UsageRollupState,
    )
    from gateway.rollup import roll_up

    UsageRollupState.objects.all().delete()
    UsageHourly.objects.all()._raw_delete(UsageHourly.objects.db)
    UsageLatencyHourly.objects.all()._raw_delete(UsageLatencyHourly.objects.db)
    UsageDaily.objects.all()._raw_delete(UsageDaily.objects.db)
    if not enabled:
        print("Rollups emptied: the reports read raw rows only.")
        return
    now = timezone.now()
    started = time.perf_counter()
    catch_up = roll_up(now=now - timedelta(hours=1))
    took = time.perf_counter() - started
    print(f"roll_up catch-up: {catch_up.hours:,} hours in {took:.1f} s")
    if connection.vendor == "postgresql":
        # Fresh statistics after the bulk load, as autovacuum would gather.
        with connection.cursor() as cursor:
            for table in ("usagehourly", "usagedaily", "usagelatencyhourly"):
                cursor.execute(f"ANALYZE gateway_{table}")
    started = time.perf_counter()
    steady = roll_up(now=now)
    took = (time.perf_counter() - started) * 1000
    print(f"roll_up steady state: {steady.hours} hour in {took:.0f} ms")
    started = time.perf_counter()
    roll_up(now=now)
    took = (time.perf_counter() - started) * 1000
    print(f"roll_up with nothing new: {took:.0f} ms")
    print(
        f"rollup rows: {UsageHourly.objects.count():,} hourly, "
        f"{UsageDaily.objects.count():,} daily, "
        f"{UsageLatencyHourly.objects.count():,} latency"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--noise", type=int, default=300_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--regenerate", action="store_true")
    parser.add_argument("--explain", action="store_true")
    parser.add_argument(
        "--no-rollup", action="store_true", help="time the reports on raw rows only"
    )
    args = parser.parse_args(argv)
    _setup(os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))

    from django.db import connection

    from accounts.models import Organization
    from gateway import reports
    from gateway.models import UsageRecord

    org = Organization.objects.filter(slug=ORG).first()
    have = UsageRecord.objects.filter(organization=org).count() if org else -1
    if args.regenerate or have != args.rows:
        print(f"Generating {args.rows:,} usage rows (+{args.noise:,} noise) ...")
        _generate(args.rows, args.noise)
        org = Organization.objects.get(slug=ORG)
    assert org is not None
    user_id = org.memberships.order_by("pk").values_list("user_id", flat=True)[0]
    total = UsageRecord.objects.count()
    _roll_up(enabled=not args.no_rollup)

    print(
        f"\nModelgate dashboard benchmark: {args.rows:,} rows for {ORG} "
        f"({total:,} in the table), {connection.vendor}, median of {args.runs} runs"
    )
    print(f"{'report':<26}{'queries':>8}{'median ms':>11}{'min':>8}{'max':>8}")
    cases: list[tuple[str, Callable[[], Any]]] = [
        (f"org admin {key}", lambda r=rng: reports.organization_report(org.pk, r))
        for key, rng in reports.RANGES.items()
    ]
    cases.append(
        ("member 30d (own usage)", lambda: reports.member_report(org.pk, user_id))
    )
    cases.append(("provider health", lambda: reports.provider_health(org.pk)))
    for name, fn in cases:
        queries, times = _timed(fn, args.runs)
        print(
            f"{name:<26}{queries:>8}{statistics.median(times):>11.1f}"
            f"{min(times):>8.1f}{max(times):>8.1f}",
            flush=True,
        )
        if args.explain:
            _explain(fn)
    return 0


if __name__ == "__main__":
    sys.exit(main())
