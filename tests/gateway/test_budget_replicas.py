"""Budgets and token limits across two gateway processes on one real Redis.

The gateways are uvicorn subprocesses as production runs them
(``deployment``), on this run's PostgreSQL database and a private
redis-server that a test may kill; the vendor is the strict OpenAI fake
(11 + 7 tokens a call: 138 µUSD at $3/$15 per million; a call reserves
14 + 7 tokens, 147 µUSD). Each test prints its figures.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.gateway.deployment import Deployment
from tests.gateway.test_faults import needs_postgres_and_redis

pytestmark = [pytest.mark.serial, needs_postgres_and_redis]

CALL_NANOS = 138_000
RESERVED_NANOS = 147_000
BUDGET_NANOS = 10_000_000  # $0.01: 72 calls, if nothing is overspent


@dataclass
class Outcome:
    sent: float
    received: float
    status: int
    body: str


BODY = {
    "model": "gpt-4o-mini",
    "max_tokens": 7,
    "messages": [{"role": "user", "content": "hi"}],
}


async def call(client: httpx.AsyncClient, v1: str, key: str) -> Outcome:
    sent = time.monotonic()
    try:
        answer = await client.post(
            f"{v1}/chat/completions",
            json=BODY,
            headers={"Authorization": f"Bearer {key}"},
        )
    except httpx.HTTPError as exc:
        return Outcome(sent, time.monotonic(), 0, repr(exc))
    return Outcome(sent, time.monotonic(), answer.status_code, answer.text)


def hammer(
    targets: list[str], key: str, seconds: float, concurrency: int
) -> list[Outcome]:
    """Closed-loop callers spread over ``targets`` until ``seconds`` pass.

    Coroutines on one thread, not threads: the fake vendor shares this
    process, and dozens of threads queueing for the GIL would slow it, not
    the gateways, to a crawl.
    """

    async def run() -> list[Outcome]:
        outcomes: list[Outcome] = []
        stop_at = time.monotonic() + seconds
        limits = httpx.Limits(max_connections=concurrency * 2)
        async with httpx.AsyncClient(timeout=10, limits=limits) as client:

            async def worker(n: int) -> None:
                while time.monotonic() < stop_at:
                    outcomes.append(await call(client, targets[n % len(targets)], key))

            await asyncio.gather(*(worker(n) for n in range(concurrency)))
        return outcomes

    return asyncio.run(run())


def calls(targets: list[str], key: str, count: int) -> list[Outcome]:
    """``count`` calls one after another, alternating ``targets``."""

    async def run() -> list[Outcome]:
        async with httpx.AsyncClient(timeout=10) as client:
            return [
                await call(client, targets[n % len(targets)], key) for n in range(count)
            ]

    return asyncio.run(run())


@pytest.fixture
def deployment(tmp_path, redis_server, transactional_db) -> Iterator[Deployment]:
    deployment = Deployment.create(
        tmp_path,
        postgres=True,
        redis_url=redis_server.url,
        USAGE_FLUSH_INTERVAL="0.2",
        GATEWAY_BUDGET_REBUILD_WAIT="0.5",
        GATEWAY_LIMITS_ON_REDIS_ERROR="closed",
        BUDGET_RECONCILE_LAG_SECONDS="0",
    )
    try:
        yield deployment
    finally:
        deployment.stop()


def settled(deployment: Deployment) -> dict:
    time.sleep(1.0)  # every replica has flushed its usage (0.2 s interval)
    return deployment.command("spend")


def refusals_name_the_budget(outcomes: list[Outcome]) -> None:
    refused = [o for o in outcomes if o.status == 429]
    assert refused
    assert all('"insufficient_quota"' in o.body for o in refused)
    assert all("Budget exceeded for organization Faults" in o.body for o in refused)


def test_a_budget_holds_under_hundreds_of_concurrent_calls_through_two_replicas(
    deployment, openai_fake
):
    key = deployment.seed(openai_fake.server.url, None)
    budget = deployment.command("budget", "0.01", "None")["budget"]
    replicas = [deployment.start(key), deployment.start(key)]
    warm = calls([r.v1 for r in replicas], key, 2)  # as a deployment runs: warm
    print("\nfirst calls:", [f"{o.received - o.sent:.2f} s" for o in warm])
    hammered = hammer([r.v1 for r in replicas], key, seconds=6, concurrency=64)
    outcomes = warm + hammered
    statuses = Counter(o.status for o in outcomes)
    spend = settled(deployment)
    overspend = spend["cost_nanos"] - BUDGET_NANOS
    print(
        f"\n{len(outcomes)} calls at c=64 through 2 replicas against $0.01: "
        f"{dict(statuses)}, spent {spend['cost_nanos']} nano-USD, overspend "
        f"{max(0, overspend)} nano-USD (one call's settlement error: "
        f"{RESERVED_NANOS - CALL_NANOS}), counter {spend['counters'][str(budget)]}, "
        f"slowest {max(o.received - o.sent for o in hammered):.2f} s"
    )
    # Nothing hung (the client gives up after 10 s) or failed.
    assert set(statuses) == {200, 429}
    assert len(outcomes) >= 300
    refusals_name_the_budget(outcomes)
    # Every admitted call was recorded, and billed.
    assert spend["records"] == statuses[200]
    assert spend["cost_nanos"] == statuses[200] * CALL_NANOS
    assert overspend <= RESERVED_NANOS - CALL_NANOS
    # ... and the budget was used up, not refused early.
    assert spend["cost_nanos"] > BUDGET_NANOS - RESERVED_NANOS
    # The counter in Redis is the database's figure.
    assert spend["counters"][str(budget)] == spend["cost_nanos"]


def test_a_redis_restart_mid_run_loses_no_spend_and_resets_nothing(
    deployment, openai_fake, redis_server
):
    key = deployment.seed(openai_fake.server.url, None)
    budget = str(deployment.command("budget", "0.01", "None")["budget"])
    replicas = [deployment.start(key), deployment.start(key)]
    before = calls([r.v1 for r in replicas], key, 36)
    assert {o.status for o in before} == {200}
    redis_server.kill()
    redis_server.start()  # empty: nothing kept on disk
    # Each replica's first call after the restart finds its pooled connection
    # dead (a 503: limits fail closed here); the next one rebuilds the counter
    # from the records.
    first = calls([r.v1 for r in replicas], key, 2)
    assert {o.status for o in first} <= {200, 503}
    time.sleep(1.1)  # the breakers close again
    again = calls([r.v1 for r in replicas], key, 2)
    assert [o.status for o in again] == [200, 200]
    admitted_now = sum(o.status == 200 for o in first + again)
    rebuilt = settled(deployment)
    admitted = 36 + admitted_now
    assert rebuilt["counters"][budget] == rebuilt["cost_nanos"] == admitted * CALL_NANOS
    after = hammer([r.v1 for r in replicas], key, seconds=3, concurrency=32)
    statuses = Counter(o.status for o in after)
    spend = settled(deployment)
    admitted += statuses[200]
    print(
        f"\nRedis restarted after 36 calls: {dict(statuses)} after it, "
        f"{admitted} admitted in all, spent {spend['cost_nanos']} nano-USD of "
        f"{BUDGET_NANOS}, counter {spend['counters'][budget]}"
    )
    refusals_name_the_budget(after)
    # Nothing was lost or counted twice, and the budget did not start over
    # (a reset would have admitted another 72 calls).
    assert spend["records"] == admitted
    assert spend["cost_nanos"] == admitted * CALL_NANOS
    assert BUDGET_NANOS - RESERVED_NANOS < spend["cost_nanos"] <= BUDGET_NANOS
    assert spend["counters"][budget] == spend["cost_nanos"]
    # The reconcile finds the counter right and keeps it so.
    assert deployment.command("reconcile")["corrected"] == 1
    assert deployment.command("spend")["counters"][budget] == spend["cost_nanos"]


def test_token_limits_hold_across_two_replicas(
    tmp_path, openai_fake, redis_server, transactional_db
):
    window, cap = 4.0, 210  # room for 11 calls a window (18 used, 21 reserved)
    deployment = Deployment.create(
        tmp_path,
        postgres=True,
        redis_url=redis_server.url,
        GATEWAY_LIMIT_WINDOW_SECONDS=str(window),
    )
    try:
        key = deployment.seed(openai_fake.server.url, None)
        deployment.command("budget", "None", str(cap))
        replicas = [deployment.start(key), deployment.start(key)]
        outcomes = hammer(
            [r.v1 for r in replicas], key, seconds=window * 2.5, concurrency=8
        )
    finally:
        deployment.stop()
    admitted = sorted((o for o in outcomes if o.status == 200), key=lambda o: o.sent)
    refused = [o for o in outcomes if o.status == 429]
    assert len(admitted) + len(refused) == len(outcomes)
    assert all("(tokens per minute)" in o.body for o in refused)
    slack = max(o.received - o.sent for o in admitted)
    mids = [(o.sent + o.received) / 2 for o in admitted]
    busiest = max(
        sum(1 for m in mids if start <= m < start + window - slack) for start in mids
    )
    print(
        f"\ntwo replicas, {cap} tokens per {window:g} s: {len(outcomes)} calls, "
        f"{len(admitted)} admitted, busiest window {busiest} calls "
        f"({busiest * 18} tokens)"
    )
    assert busiest * 18 <= cap
    # Three windows begun, each admitting what fits (10 or 11 calls).
    assert len(admitted) >= 3 * 9
