"""Admission control: requests and tokens per minute, and budgets, in one step.

A call asks (``Ask``) to be counted against every requests-per-minute and
tokens-per-minute cap of its key, model and provider, and to reserve its
estimated cost against every budget that applies (``gateway.budgets``). All or
nothing: a refused call counts nowhere. What was admitted comes back as a
``Hold``, which ``settle`` replaces by what the call really used once it ends
(or by nothing when it failed before using anything); a hold never settled (a
replica that died) expires with its reservation's time to live.

With ``REDIS_URL`` the whole check is one Lua script (``gateway.limits_lua``):
one round trip, shared by every replica, timed by the Redis server's clock.
Without it the same bookkeeping lives in this process (``gateway.limits_local``;
the embedded platform runs one web process).

Requests are counted in a sliding-window log, so no window of that length,
wherever it starts, admits more than the cap. Tokens are counted the same way,
each call weighted by its estimated tokens until it settles to the vendor's
count. Budget counters are seeded from the usage records when missing
(``gateway.budgets.spend``): a Redis restart neither resets a budget nor loses
spend.

Redis faults never become a 500 or a hang: the client has a short timeout and a
breaker (``gateway.state``), and ``GATEWAY_LIMITS_ON_REDIS_ERROR`` decides:
``open`` admits (logging a warning at most every ``WARN_EVERY`` seconds),
``closed`` refuses with a 503 and Retry-After.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.utils import timezone

from gateway import limits_lua
from gateway.budgets.applicable import BudgetRef
from gateway.errors import GatewayError, over_budget, over_limit
from gateway.limits_local import LocalLedger
from gateway.script_batch import ScriptBatch
from gateway.state import RedisUnavailable, state

if TYPE_CHECKING:
    from redis.commands.core import AsyncScript

logger = logging.getLogger(__name__)

WARN_EVERY = 10.0
KEY_PREFIX = "modelgate:rl:"
TOKENS_PREFIX = "modelgate:tpm:"
# Set with the first budget counter: its absence means this Redis has lost
# its data (or never counted a budget), so records may still be in flight.
EPOCH_KEY = "modelgate:budget:epoch"
# Outcomes of the admission script (gateway.limits_lua.ADMIT).
ADMITTED, REQUESTS_FULL, TOKENS_FULL, BUDGET_SPENT, BUDGET_UNKNOWN = range(5)


def window_seconds() -> float:
    return float(settings.GATEWAY_LIMIT_WINDOW_SECONDS)


@dataclass
class Ask:
    """What one call asks admission for.

    ``requests`` and ``tokens`` are ``(bucket label, cap)`` pairs (a cap of
    None or 0 is no cap); ``weight`` is how many requests the call counts as,
    ``tokens_estimate`` and ``nanos_estimate`` what it may use, ``ttl`` how
    long its reservations outlive a replica that dies holding them.
    """

    requests: list[tuple[str, int | None]]
    tokens: list[tuple[str, int | None]] = field(default_factory=list)
    budgets: list[BudgetRef] = field(default_factory=list)
    weight: int = 1
    tokens_estimate: int = 0
    nanos_estimate: int = 0
    ttl: float = 660.0


@dataclass
class Headroom:
    """The tightest cap's state after admission, as ``x-ratelimit-*`` reports it.

    Each is ``(limit, remaining, seconds until back to full)``, or None when no
    cap of that kind applies.
    """

    requests: tuple[int, int, float] | None = None
    tokens: tuple[int, int, float] | None = None


@dataclass
class Hold:
    """An admitted call's counts, to be settled once (``settle``)."""

    call_id: str
    tokens: list[str]
    budgets: list[BudgetRef]
    tokens_estimate: int
    nanos_estimate: int
    local: bool
    settled: bool = False


@dataclass
class Refusal:
    outcome: int
    index: int
    wait: float
    spent: int = 0
    reserved: int = 0


_local = LocalLedger()
_last_warning = 0.0
# Call ids must be unique across replicas: a random prefix per process and a
# counter (cheaper per call than fresh random bytes).
_NONCE = secrets.token_hex(6) + ":"
_calls = itertools.count()
_scripts: dict[tuple[int, str], AsyncScript] = {}
# Settlements waiting for the next batch, and the task sending batches (tasks
# are only weakly referenced by the loop).
_unsettled: list[tuple[Hold, int, int, datetime]] = []
_settler: asyncio.Task[None] | None = None
# Admission script calls of one loop turn go to Redis together.
_admissions = ScriptBatch()
# Budget counters being seeded from the database, so a burst seeds each once.
_seeding: dict[str, asyncio.Future[None]] = {}


def reset_for_tests() -> None:
    """Forget the in-process counters (Redis counters are the caller's to clear)."""
    _local.clear()


def _script(name: str) -> AsyncScript:
    client = state().redis()
    script = _scripts.get((id(client), name))
    if script is None:
        script = _scripts[(id(client), name)] = client.register_script(
            getattr(limits_lua, name)
        )
    return script


def _active(caps: list[tuple[str, int | None]]) -> list[tuple[str, int]]:
    return [(label, int(cap)) for label, cap in caps if cap]


async def check(ask: Ask) -> tuple[Hold | None, Headroom]:
    """Admit the call or raise its 429 (or the 503 of limits failing closed).

    Returns the hold to settle (None when nothing was counted that needs
    settling) and the headroom for the answer's ``x-ratelimit-*`` headers.
    """
    requests, tokens = _active(ask.requests), _active(ask.tokens)
    if not (requests or tokens or ask.budgets):
        return None, Headroom()
    call_id = f"{_NONCE}{next(_calls)}"
    weight = max(1, int(ask.weight))
    now = timezone.now()
    counters = [b.counter_key(b.bounds(now)[0]) for b in ask.budgets]
    local = not settings.REDIS_URL
    # Each pass seeds at most one missing counter: a call meeting every budget
    # at a period's start (or after Redis lost them) needs one pass per budget.
    for _ in range(len(ask.budgets) + 2):
        try:
            result = await _run(requests, tokens, ask, counters, weight, call_id)
        except RedisUnavailable as exc:
            _redis_failed(exc)
            return None, Headroom()
        refusal, headroom = result
        if refusal is None:
            hold = Hold(
                call_id=call_id,
                tokens=[label for label, _ in tokens],
                budgets=list(ask.budgets),
                tokens_estimate=int(ask.tokens_estimate),
                nanos_estimate=int(ask.nanos_estimate),
                local=local,
            )
            return hold, headroom
        if refusal.outcome != BUDGET_UNKNOWN:
            _refuse(refusal, requests, tokens, ask, headroom, now)
        try:
            await _seed(ask.budgets[refusal.index], counters[refusal.index], local)
        except RedisUnavailable as exc:
            _redis_failed(exc)
            return None, Headroom()
    raise GatewayError(
        "Budgets cannot be checked right now; retry shortly.",
        status=503,
        type="api_error",
        code="limits_unavailable",
        retry_after=1.0,
    )


def _refuse(
    refusal: Refusal,
    requests: list[tuple[str, int]],
    tokens: list[tuple[str, int]],
    ask: Ask,
    headroom: Headroom,
    now: datetime,
) -> None:
    from gateway import ratelimit_headers

    ratelimit_headers.note(headroom)
    if refusal.outcome == REQUESTS_FULL:
        label = requests[refusal.index][0]
        raise over_limit(label.split(":", 1)[0], max(0.001, refusal.wait))
    if refusal.outcome == TOKENS_FULL:
        label = tokens[refusal.index][0]
        raise over_limit(label.split(":", 1)[0], max(0.001, refusal.wait), "tokens")
    budget = ask.budgets[refusal.index]
    end = budget.bounds(now)[1]
    raise over_budget(
        budget.label,
        budget.amount,
        budget.period,
        spent=refusal.spent,
        reserved=refusal.reserved,
        retry_after=(end - now).total_seconds() if budget.period != "total" else None,
    )


async def _run(
    requests: list[tuple[str, int]],
    tokens: list[tuple[str, int]],
    ask: Ask,
    counters: list[str],
    weight: int,
    call_id: str,
) -> tuple[Refusal | None, Headroom]:
    if not settings.REDIS_URL:
        return _decode(
            _local.admit(
                requests,
                tokens,
                ask.budgets,
                counters,
                weight,
                call_id,
                window=window_seconds(),
                tokens_estimate=int(ask.tokens_estimate),
                nanos_estimate=int(ask.nanos_estimate),
                ttl=ask.ttl,
            )
        )
    return await _admit_redis(requests, tokens, ask, counters, weight, call_id)


async def _admit_redis(
    requests: list[tuple[str, int]],
    tokens: list[tuple[str, int]],
    ask: Ask,
    counters: list[str],
    weight: int,
    call_id: str,
) -> tuple[Refusal | None, Headroom]:
    token_keys = [f"{TOKENS_PREFIX}{label}" for label, _ in tokens]
    keys = [f"{KEY_PREFIX}{label}" for label, _ in requests]
    keys += token_keys
    keys += [f"{k}:sum" for k in token_keys]
    keys += counters
    reservations = [b.reservations_key() for b in ask.budgets]
    keys += reservations
    keys += [f"{k}:sum" for k in reservations]
    args: list[int | str] = [
        len(requests),
        len(tokens),
        len(ask.budgets),
        int(window_seconds() * 1_000_000),
        call_id,
        weight,
        int(ask.tokens_estimate),
        str(int(ask.nanos_estimate)),
        int(ask.ttl * 1_000_000),
    ]
    args += [cap for _, cap in requests]
    args += [cap for _, cap in tokens]
    args += [str(b.amount_nanos) for b in ask.budgets]
    raw = await _admissions.call(_script("ADMIT"), keys, args)
    return _decode(raw)


def _decode(raw: list[Any]) -> tuple[Refusal | None, Headroom]:
    """The admission script's answer (or ``LocalLedger.admit``'s, the same list)."""
    outcome, index, wait_us = int(raw[0]), int(raw[1]), int(raw[2])
    headroom = Headroom(
        requests=_headroom(raw[3], raw[4], raw[5]),
        tokens=_headroom(raw[6], raw[7], raw[8]),
    )
    if outcome == ADMITTED:
        return None, headroom
    return (
        Refusal(
            outcome,
            index - 1,
            wait_us / 1_000_000,
            spent=int(raw[9] or 0),
            reserved=int(raw[10] or 0),
        ),
        headroom,
    )


def _headroom(
    limit: Any, remaining: Any, reset_us: Any
) -> tuple[int, int, float] | None:
    if int(limit) < 0:
        return None
    return int(limit), max(0, int(remaining)), int(reset_us) / 1_000_000


async def _seed(budget: BudgetRef, counter: str, local: bool) -> None:
    """Rebuild one budget's missing counter from the usage records (once at a time)."""
    pending = _seeding.get(counter)
    if pending is not None:
        await asyncio.shield(pending)
        return
    future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    _seeding[counter] = future
    try:
        await _seed_now(budget, counter, local)
        future.set_result(None)
    except BaseException as exc:
        future.set_exception(exc)
        future.exception()
        raise
    finally:
        _seeding.pop(counter, None)


async def _seed_now(budget: BudgetRef, counter: str, local: bool) -> None:
    from gateway.budgets import spend
    from gateway.db import run_db

    if not local:
        await _await_records_in_flight()
    start, end = budget.bounds(timezone.now())
    mark, base, minutes, total = await run_db(
        spend.counter_seed, budget.organization_id, budget, start
    )
    if local:
        _local.seed(counter, total)
        return
    args: list[int | str] = [
        int(min(end.timestamp() + 86_400, 2**41) * 1000),
        mark,
        str(base),
    ]
    for name, value in minutes.items():
        args += [name, str(value)]
    args.append(str(total))
    script = _script("INIT")
    try:
        await state().breaker.call(lambda: script(keys=[counter, EPOCH_KEY], args=args))
    except RedisUnavailable as exc:
        _redis_failed(exc)


async def _await_records_in_flight() -> None:
    """After Redis lost its counters, let every replica write what it holds.

    Calls settled just before the loss are in some process's usage buffer, not
    yet in the database: every writer flushes within ``USAGE_FLUSH_INTERVAL``,
    so a rebuild that waits that long (once per Redis restart) counts them. A
    counter missing only because its period or budget is new has nothing in
    flight and skips the wait (the marker is there).
    """
    wait = settings.GATEWAY_BUDGET_REBUILD_WAIT
    if wait is None:
        wait = min(10.0, float(settings.USAGE_FLUSH_INTERVAL) * 1.5 + 0.1)
    if wait <= 0:
        return
    exists = await state().breaker.call(lambda: state().redis().exists(EPOCH_KEY))
    if not exists:
        await asyncio.sleep(wait)


def settle(hold: Hold | None, tokens: int, nanos: int, at: datetime) -> None:
    """Replace a hold's reservations by what the call used (``tokens``, ``nanos``).

    Called once per admitted attempt when it ends, failed and cancelled ones
    included (with what they used, often nothing). In-process counters settle
    at once; Redis ones in a task, off the answer's path (an unsettled hold
    only over-counts until it does).
    """
    if hold is None or hold.settled:
        return
    hold.settled = True
    if not (hold.tokens or hold.budgets):
        return
    if hold.local:
        _local.settle(hold.call_id, hold.tokens, hold.budgets, tokens, nanos, at)
        return
    global _settler
    _unsettled.append((hold, tokens, nanos, at))
    if _settler is None or _settler.done():
        _settler = asyncio.get_running_loop().create_task(_settle_batches())


async def _settle_batches() -> None:
    """Send what waits, one script call per batch, until nothing waits.

    Under load the settlements of many calls go in one round trip (those that
    ended while the previous batch was on its way); alone, a call's goes at
    once, so a caller's next call finds its reservation settled. Measured, one
    script call per settlement cost 5 to 10 % of a worker's throughput
    (``python -m bench.budgets``). Waiting a few milliseconds to gather more
    would refuse calls that fit meanwhile.
    """
    while _unsettled:
        batch = _unsettled[:BATCH]
        del _unsettled[:BATCH]
        keys: list[str] = []
        args: list[int | str] = [len(batch)]
        for hold, tokens, nanos, at in batch:
            _settlement(hold, tokens, nanos, at, keys, args)
        script = _script("SETTLE")
        try:
            await state().breaker.call(lambda: script(keys=keys, args=args))
        except RedisUnavailable as exc:
            # The reservations expire; the spend is in the usage records, which
            # the next reconcile counts (gateway.budgets.reconcile).
            _warn(f"settlements were not written ({exc}); the reconcile counts them")


# Settlements per script call at most (a bound on one call's arguments).
BATCH = 200


def _settlement(
    hold: Hold,
    tokens: int,
    nanos: int,
    at: datetime,
    keys: list[str],
    args: list[int | str],
) -> None:
    """Append one call's part of a ``SETTLE`` batch to ``keys`` and ``args``.

    The spend belongs to the period (and minute) of its usage record, which is
    what the database's sums and the reconcile count it in.
    """
    token_keys = [f"{TOKENS_PREFIX}{label}" for label in hold.tokens]
    reservations = [b.reservations_key() for b in hold.budgets]
    keys += token_keys
    keys += [f"{k}:sum" for k in token_keys]
    keys += [b.counter_key(b.bounds(at)[0]) for b in hold.budgets]
    keys += reservations
    keys += [f"{k}:sum" for k in reservations]
    used = max(0, tokens)
    args += [
        len(token_keys),
        len(hold.budgets),
        hold.call_id,
        hold.tokens_estimate,
        used,
        used - hold.tokens_estimate,
        str(hold.nanos_estimate),
        str(max(0, nanos)),
        f"m:{int(at.timestamp()) // 60}",
    ]


async def drain() -> None:
    """Wait for settlements in flight (shutdown, and tests that read counters)."""
    while _settler is not None and not _settler.done():
        await asyncio.gather(_settler, return_exceptions=True)


def _warn(message: str) -> None:
    global _last_warning
    now = time.monotonic()
    if now - _last_warning >= WARN_EVERY:
        _last_warning = now
        logger.warning(message)


def _redis_failed(exc: RedisUnavailable) -> None:
    """Apply ``GATEWAY_LIMITS_ON_REDIS_ERROR``: admit with a warning, or refuse."""
    if settings.GATEWAY_LIMITS_ON_REDIS_ERROR == "closed":
        raise GatewayError(
            "Rate limits cannot be checked right now; retry shortly.",
            status=503,
            type="api_error",
            code="limits_unavailable",
            retry_after=max(1.0, state().breaker.seconds_left()),
        )
    _warn(f"rate limits and budgets not enforced, Redis is unreachable: {exc}")


async def admit(
    caps: list[tuple[str, int | None]], weight: int = 1
) -> tuple[str, float] | None:
    """Requests-per-minute caps alone: ``(bucket label, seconds to wait)`` or None.

    The sliding window's own entry point (its tests use it); calls go through
    ``check``, which counts tokens and budgets in the same step.
    """
    requests = _active(caps)
    if not requests:
        return None
    ask = Ask(requests=caps, weight=weight)
    call_id = f"{_NONCE}{next(_calls)}"
    try:
        refusal, _ = await _run(requests, [], ask, [], max(1, weight), call_id)
    except RedisUnavailable as exc:
        _redis_failed(exc)
        return None
    if refusal is None:
        return None
    return requests[refusal.index][0], max(0.001, refusal.wait)
