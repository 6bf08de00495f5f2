"""The cost of budgets and token limits on the hot path, measured in one run.

``python -m bench.budgets`` seeds one database with two organizations that
differ only in spend control: "Bench" (the usual seed: requests-per-minute
caps on key, model and provider) and "Bench budgets", whose calls also meet a
budget of every scope (organization, user, key, model, provider; limits far
above what the run spends, so nothing is refused) and tokens-per-minute caps
on key, model and provider. One Modelgate (this tree) serves both; the load
generator drives the two keys in alternation, cell by cell, swapping which
goes first each round, and the run prints each round's throughput and the
median ratio budgets/plain with its spread (the noise). With ``REDIS_URL``
it also prints the Redis commands per call (``INFO commandstats``): admission
is one script call, settlement another after the answer.

Options: ``--rounds N`` (default 6), ``--duration S``, ``--warmup S``,
``--workers W``, ``--concurrency C``, ``--scenarios``.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import secrets
import signal
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench import ab
from bench import run as bench

HIGH = 1_000_000_000


def seed_budgeted() -> dict[str, Any]:
    """A copy of the bench organization with budgets of every scope and TPM caps."""
    from decimal import Decimal

    from accounts.models import Membership, Organization, User
    from gateway.models import ApiKey, Budget
    from models_catalog.models import AIModel, Grant
    from providers.models import Provider

    source = Organization.objects.get(slug="bench")
    org = Organization.objects.create(slug="bench-budgets", name="Bench budgets")
    user = User.objects.create_user(username="bench-budgets-user", password=None)
    Membership.objects.create(user=user, organization=org)
    key, secret = ApiKey.issue(
        organization=org,
        user=user,
        name="bench-budgets",
        requests_per_minute=HIGH,
        tokens_per_minute=HIGH,
    )
    big = Decimal("1000000000")
    budgets = [
        Budget(organization=org, scope="organization", amount=big),
        Budget(organization=org, scope="user", user=user, amount=big, period="day"),
        Budget(organization=org, scope="key", api_key=key, amount=big, period="week"),
    ]
    for original in Provider.objects.filter(organization=source):
        models = list(AIModel.objects.filter(provider=original))
        provider = Provider(
            organization=org,
            name=original.name,
            provider_type=original.provider_type,
            endpoint=original.endpoint,
            auth_method=original.auth_method,
            requests_per_minute=HIGH,
            tokens_per_minute=HIGH,
        )
        provider.seal("credentials", original.reveal("credentials"))
        provider.save()
        budgets.append(
            Budget(organization=org, scope="provider", provider=provider, amount=big)
        )
        for model in models:
            copy = AIModel.objects.create(
                provider=provider,
                organization=org,
                model_id=model.model_id,
                model_type=model.model_type,
                input_cost_per_million=model.input_cost_per_million,
                output_cost_per_million=model.output_cost_per_million,
                requests_per_minute=HIGH,
                tokens_per_minute=HIGH,
            )
            Grant.objects.create(model=copy, organization=org)
            budgets.append(
                Budget(organization=org, scope="model", model=copy, amount=big)
            )
    Budget.objects.bulk_create(budgets)
    return {"key": secret, "budgets": len(budgets)}


def redis_calls() -> dict[str, int]:
    """Commands served by the Redis of ``REDIS_URL`` so far, by name."""
    url = os.environ.get("REDIS_URL", "")
    if not url:
        return {}
    import redis

    client = redis.Redis.from_url(url)
    try:
        stats = client.info("commandstats")
    finally:
        client.close()
    return {name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in stats.items()}


def count_redis_calls(server: bench.Server, total: int = 500) -> dict[str, float]:
    """Redis commands per call over ``total`` chat calls (the caches warm)."""
    import asyncio

    from bench import loadgen

    before = redis_calls()
    asyncio.run(
        loadgen.run(
            server.base,
            loadgen.SCENARIOS["chat"](),
            4,
            duration=None,
            total=total,
            warmup=0,
            key=server.key,
        )
    )
    after = redis_calls()
    return {
        name: round((after[name] - before.get(name, 0)) / total, 2)
        for name in after
        if after[name] - before.get(name, 0) > total * 0.01 and name != "info"
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.budgets", description=__doc__
    )
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument(
        "--scenarios", nargs="+", choices=bench.SCENARIOS, default=["chat", "stream"]
    )
    parser.add_argument("--run-dir", type=Path, default=bench.BENCH / ".run")
    parser.add_argument("--seed-budgeted", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.seed_budgeted:
        from bench import seed

        seed._setup()
        print(json.dumps(seed_budgeted()))
        return 0
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, bench._on_signal)
    atexit.register(bench.PROCS.stop_all)
    run_dir: Path = args.run_dir.resolve()
    (run_dir / "logs").mkdir(parents=True, exist_ok=True)
    db = bench.make_database(run_dir, f"budgets-{os.getpid()}")
    results: dict[str, list[dict[str, Any]]] = {s: [] for s in args.scenarios}
    calls: dict[str, dict[str, float]] = {}
    try:
        fake = bench.start_fake(run_dir)
        env = bench.django_env(db, secrets.token_urlsafe(50), bench._credentials_key())
        seed = bench.prepare_modelgate_db(db, env, fake.base, scale=False)
        done = subprocess.run(
            [bench.PY, "-m", "bench.budgets", "--seed-budgeted"],
            cwd=bench.ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=True,
        )
        budgeted_key = json.loads(done.stdout.strip().splitlines()[-1])["key"]
        plain = bench.start_modelgate("plain", env, seed["key"], args.workers, run_dir)
        servers = {
            "plain": plain,
            "budgets": bench.Server("budgets", plain.base, budgeted_key, plain.proc),
        }
        ab.alternate(servers, args, results)
        for which, server in servers.items():
            calls[which] = count_redis_calls(server)
    finally:
        bench.PROCS.stop_all()
        db.drop()
    print(
        f"\nbudgets and token limits (budgets) vs requests-per-minute caps only "
        f"(plain): {args.workers} worker(s), c={args.concurrency}, {args.rounds} "
        f"alternations x {args.duration:g}s, Redis: {bool(os.environ.get('REDIS_URL'))}"
    )
    summary: dict[str, Any] = {}
    for scenario, cells in results.items():
        ratios = [
            c["budgets"]["rps"] / c["plain"]["rps"] for c in cells if c["plain"]["rps"]
        ]
        summary[scenario] = {
            "plain_rps": [round(c["plain"]["rps"]) for c in cells],
            "budgets_rps": [round(c["budgets"]["rps"]) for c in cells],
            "median_ratio": round(statistics.median(ratios), 3),
            "errors": sum(c[w]["errors"] for c in cells for w in ("plain", "budgets")),
        }
        print(
            f"{scenario:8} plain req/s   {summary[scenario]['plain_rps']}\n"
            f"{'':8} budgets req/s {summary[scenario]['budgets_rps']}\n"
            f"{'':8} budgets/plain median {summary[scenario]['median_ratio']} "
            f"(min {min(ratios):.3f}, max {max(ratios):.3f}), errors "
            f"{summary[scenario]['errors']}"
        )
    for which, per_call in calls.items():
        if per_call:
            print(f"Redis commands per call ({which}): {per_call}")
    (run_dir / "budgets-result.json").write_text(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
