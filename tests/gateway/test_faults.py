"""Faults, with real processes and sockets: a killed worker, a Redis outage, replicas.

The gateways are uvicorn subprocesses as production runs them (``deployment``);
the vendor is the strict OpenAI fake on loopback. Each test prints its figures.
"""

from __future__ import annotations

import signal
import threading
import time
from collections import Counter
from dataclasses import dataclass

import httpx
import pytest
from django.conf import settings
from django.db import connection

from tests.gateway.deployment import Deployment

# Timing-bound (answers within seconds, caps within percents): bin/test runs
# the tests marked serial alone, after the parallel run, on a quiet machine.
pytestmark = pytest.mark.serial

MODEL = "gpt-4o-mini"


@dataclass
class Outcome:
    sent: float
    received: float
    status: int
    complete: bool
    body: str
    retry_after: str | None = None


def call(client: httpx.Client, v1: str, key: str, stream: bool) -> Outcome:
    """One chat call; ``complete`` when the whole answer arrived."""
    body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}
    headers = {"Authorization": f"Bearer {key}"}
    sent = time.monotonic()
    try:
        if stream:
            body["stream"] = True
            with client.stream(
                "POST", f"{v1}/chat/completions", json=body, headers=headers
            ) as answer:
                lines = list(answer.iter_lines())
                done = "data: [DONE]" in lines
                text = "\n".join(lines)
                status = answer.status_code
                wait = answer.headers.get("retry-after-ms")
                return Outcome(sent, time.monotonic(), status, done, text, wait)
        answer = client.post(f"{v1}/chat/completions", json=body, headers=headers)
        complete = answer.status_code == 200 and bool(answer.json().get("choices"))
        status, wait = answer.status_code, answer.headers.get("retry-after-ms")
        return Outcome(sent, time.monotonic(), status, complete, answer.text, wait)
    except httpx.TimeoutException:
        return Outcome(sent, time.monotonic(), 0, False, "timeout")


def hammer(
    targets: list[str], key: str, *, seconds: float, threads: int, stream_every: int
) -> list[Outcome]:
    """Closed-loop callers spread over ``targets`` until ``seconds`` pass."""
    outcomes: list[Outcome] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def worker(n: int) -> None:
        v1 = targets[n % len(targets)]
        with httpx.Client(timeout=10) as client:
            i = 0
            while time.monotonic() < stop_at:
                outcome = call(client, v1, key, stream=i % stream_every == 0)
                i += 1
                with lock:
                    outcomes.append(outcome)

    pool = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(seconds + 30)
    return outcomes


needs_postgres_and_redis = pytest.mark.skipif(
    not (settings.REDIS_URL and connection.vendor == "postgresql"),
    reason="needs PostgreSQL and Redis (set DATABASE_URL and REDIS_URL)",
)


def uses_postgres() -> bool:
    return connection.vendor == "postgresql"


# -- a worker killed with SIGKILL --------------------------------------------------


def killed_worker_loses_nothing(deployment: Deployment, openai_fake) -> None:
    key = deployment.seed(openai_fake.server.url, None)
    replica = deployment.start(key)
    with httpx.Client(timeout=10) as client:
        results = []
        lock = threading.Lock()

        def send(batch: range) -> None:
            for i in batch:
                outcome = call(client, replica.v1, key, stream=i % 2 == 0)
                with lock:
                    results.append(outcome)

        pool = [
            threading.Thread(target=send, args=(range(n, 300, 6),)) for n in range(6)
        ]
        for thread in pool:
            thread.start()
        for thread in pool:
            thread.join(120)
    answered = sum(o.complete for o in results)
    # Right after the last answer, before any writer could run (the flush
    # interval is an hour): no atexit, no lifespan shutdown.
    replica.kill()
    before = deployment.count()
    deployment.start(key)  # its start-up imports the dead worker's journal
    after = deployment.count()
    print(
        f"\nSIGKILL: {answered} answers received, {before['records']} records "
        f"before recovery, {after['records']} after ({after['uuids']} distinct)"
    )
    assert answered == len(results) == 300
    assert after["records"] == answered, "usage records lost or duplicated"
    assert after["uuids"] == after["records"]
    # Recovering again (another process starting) adds nothing.
    deployment.start(key)
    assert deployment.count()["records"] == answered


def test_a_killed_embedded_worker_loses_no_usage_record(tmp_path, openai_fake):
    deployment = Deployment.create(
        tmp_path, postgres=False, USAGE_FLUSH_INTERVAL="3600"
    )
    try:
        killed_worker_loses_nothing(deployment, openai_fake)
    finally:
        deployment.stop()


@needs_postgres_and_redis
def test_a_killed_worker_on_postgres_and_redis_loses_no_usage_record(
    tmp_path, openai_fake, transactional_db
):
    deployment = Deployment.create(
        tmp_path,
        postgres=True,
        redis_url=settings.REDIS_URL,
        USAGE_FLUSH_INTERVAL="3600",
    )
    try:
        killed_worker_loses_nothing(deployment, openai_fake)
    finally:
        deployment.stop()


# -- a Redis outage ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "fault"), [("open", "kill"), ("closed", "kill"), ("open", "freeze")]
)
def test_a_redis_outage_never_answers_500_or_hangs(
    mode, fault, tmp_path, openai_fake, redis_server, transactional_db
):
    """Redis killed (refuses connections) or frozen (SIGSTOP: accepts, never
    answers) for 3 s under load, then back."""
    deployment = Deployment.create(
        tmp_path,
        postgres=uses_postgres(),
        redis_url=redis_server.url,
        GATEWAY_LIMITS_ON_REDIS_ERROR=mode,
    )
    try:
        key = deployment.seed(openai_fake.server.url, 1_000_000)
        # A budget and a token cap too: every kind of limit is on the path.
        deployment.command("budget", "1000", "100000000")
        replica = deployment.start(key)
        outcomes: list[Outcome] = []
        load = threading.Thread(
            target=lambda: outcomes.extend(
                hammer([replica.v1], key, seconds=9, threads=4, stream_every=3)
            )
        )
        load.start()
        time.sleep(2.5)
        outage_start = time.monotonic()
        if fault == "kill":
            redis_server.kill()
        else:
            redis_server.process.send_signal(signal.SIGSTOP)
        time.sleep(3)
        restart = time.monotonic()
        if fault == "kill":
            redis_server.start()
        else:
            redis_server.process.send_signal(signal.SIGCONT)
        outage_end = time.monotonic()
        load.join(60)
    finally:
        deployment.stop()
    statuses = Counter(o.status for o in outcomes)
    during = [o for o in outcomes if outage_start <= o.sent < outage_end]
    slowest = max(o.received - o.sent for o in outcomes)
    print(
        f"\nRedis {fault} ({mode}): {len(outcomes)} requests, statuses "
        f"{dict(statuses)}, {len(during)} during the outage, slowest {slowest:.2f} s"
    )
    assert not [o for o in outcomes if o.status >= 500 and o.status != 503]
    assert statuses[0] == 0, "a request hung"
    assert slowest < 3.0
    if mode == "open":
        assert set(statuses) == {200}
    else:
        refused = [o for o in outcomes if o.status == 503]
        assert all('"limits_unavailable"' in o.body for o in refused)
        assert all(o.retry_after and int(o.retry_after) >= 1000 for o in refused)
        # Refused for as long as Redis is away (a moment for the first failure).
        settled = [o for o in during if outage_start + 0.5 < o.received < restart]
        assert settled and all(o.status == 503 for o in settled)
        # Served again once Redis is back.
        late = [o for o in outcomes if o.sent > outage_end + 2.0]
        assert late and all(o.status == 200 for o in late)
    assert len(during) > 20


# -- limits across replicas and window boundaries --------------------------------


def test_two_replicas_hold_a_cap_within_five_percent_across_window_boundaries(
    tmp_path, openai_fake, redis_server, transactional_db
):
    window, cap = 4.0, 40
    deployment = Deployment.create(
        tmp_path,
        postgres=uses_postgres(),
        redis_url=redis_server.url,
        GATEWAY_LIMIT_WINDOW_SECONDS=str(window),
    )
    try:
        key = deployment.seed(openai_fake.server.url, cap)
        replicas = [deployment.start(key), deployment.start(key)]
        # Start a quarter window before a wall-clock window boundary, where a
        # fixed window would admit the cap twice within half a window.
        now = time.time()
        start = (now // window + 1) * window - window / 4
        time.sleep(start - now if start > now else start + window - now)
        outcomes = hammer(
            [r.v1 for r in replicas],
            key,
            seconds=window * 2.5,
            threads=6,
            stream_every=1_000_000,
        )
    finally:
        deployment.stop()
    admitted = sorted((o for o in outcomes if o.status == 200), key=lambda o: o.sent)
    refused = [o for o in outcomes if o.status == 429]
    assert len(admitted) + len(refused) == len(outcomes), Counter(
        o.status for o in outcomes
    )
    # Admission happened between send and receipt; with midpoints and windows
    # shortened by the slowest round trip, any two admissions counted together
    # were less than one window apart on the server.
    slack = max(o.received - o.sent for o in admitted)
    mids = [(o.sent + o.received) / 2 for o in admitted]
    busiest = max(
        sum(1 for m in mids if start <= m < start + window - slack) for start in mids
    )
    first = admitted[0].sent
    per_window = Counter(int((m - first) // window) for m in mids)
    print(
        f"\ntwo replicas, cap {cap} per {window:g} s: {len(outcomes)} requests, "
        f"{len(admitted)} admitted, busiest window {busiest}, per window "
        f"{dict(sorted(per_window.items()))}, slack {slack * 1000:.0f} ms"
    )
    assert busiest <= cap * 1.05
    # A steady client gets the whole cap each window (three windows begun).
    assert len(admitted) >= 3 * cap * 0.95
    # Retry-After is accurate: no admission comes before the time a refusal
    # named, and admissions resume soon after it.
    assert refused
    end = max(o.received for o in outcomes)
    for refusal in refused:
        due = refusal.sent + int(refusal.retry_after or 0) / 1000
        early = [a for a in admitted if refusal.received < a.sent < a.received < due]
        assert not early, "admitted before the Retry-After a refusal named"
        if due + 1.0 < end:
            assert [a for a in admitted if due - slack <= a.received <= due + 1.0]
