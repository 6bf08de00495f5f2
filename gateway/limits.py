"""Admission control: requests-per-minute caps per key, model and provider.

A sliding-window log per bucket: a request is admitted when every capped
bucket holds fewer than ``cap`` admissions (weighted) in the last window, so no
window of that length, wherever it starts, admits more than the cap, and a
steady client gets the whole cap each window. With ``REDIS_URL`` the logs are
sorted sets in Redis, checked and updated by one Lua script (one round trip,
shared by every replica, timed by the Redis server's clock); without it, deques
in this process (the embedded platform runs one web process).

Redis faults never become a 500 or a hang: the client has a short timeout and a
breaker (``gateway.state``), and ``GATEWAY_LIMITS_ON_REDIS_ERROR`` decides:
``open`` admits (logging a warning at most every ``WARN_EVERY`` seconds),
``closed`` refuses with a 503 and Retry-After.
"""

from __future__ import annotations

import itertools
import logging
import secrets
import time
from collections import deque
from typing import TYPE_CHECKING

from django.conf import settings

from gateway.errors import GatewayError
from gateway.state import RedisUnavailable, state

if TYPE_CHECKING:
    from redis.commands.core import AsyncScript

logger = logging.getLogger(__name__)

WARN_EVERY = 10.0
KEY_PREFIX = "modelgate:rl:"


def window_seconds() -> float:
    return float(settings.GATEWAY_LIMIT_WINDOW_SECONDS)


class LocalLimiter:
    """The same sliding-window log in this process (monotonic clock)."""

    def __init__(self) -> None:
        self.logs: dict[str, deque[float]] = {}

    def admit(
        self, buckets: list[tuple[str, int]], weight: int, window: float
    ) -> tuple[int, float] | None:
        """``None`` when admitted (and logged), else ``(index, seconds to wait)``."""
        now = time.monotonic()
        for index, (key, cap) in enumerate(buckets):
            log = self.logs.setdefault(key, deque())
            while log and log[0] <= now - window:
                log.popleft()
            excess = len(log) + weight - cap
            if excess > 0:
                if weight > cap:
                    return index, window
                return index, log[excess - 1] + window - now
        for key, _ in buckets:
            self.logs[key].extend([now] * weight)
        return None

    def clear(self) -> None:
        self.logs.clear()


_local = LocalLimiter()


def reset_for_tests() -> None:
    """Forget the in-process counters (Redis counters are the caller's to clear)."""
    _local.clear()


# KEYS: one sorted set per capped bucket. ARGV: window (µs), a nonce unique to
# this call, the weight, then each bucket's cap. Returns {0, 0} when admitted,
# else {index of the first full bucket (1-based), µs until it admits again}.
_SLIDING_LOG = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local window = tonumber(ARGV[1])
local weight = tonumber(ARGV[3])
for i, key in ipairs(KEYS) do
  local cap = tonumber(ARGV[3 + i])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  local excess = redis.call('ZCARD', key) + weight - cap
  if excess > 0 then
    if weight > cap then return {i, window} end
    local oldest = redis.call('ZRANGE', key, excess - 1, excess - 1, 'WITHSCORES')
    return {i, tonumber(oldest[2]) + window - now + 1}
  end
end
for i, key in ipairs(KEYS) do
  local members = {}
  for j = 1, weight do
    members[#members + 1] = now
    members[#members + 1] = ARGV[2] .. ':' .. j
    if #members >= 1000 or j == weight then
      redis.call('ZADD', key, unpack(members))
      members = {}
    end
  end
  redis.call('PEXPIRE', key, math.ceil(window / 1000) + 1000)
end
return {0, 0}
"""
_scripts: dict[int, AsyncScript] = {}
_last_warning = 0.0
# Log members must be unique across replicas: a random prefix per process and a
# counter (cheaper per call than fresh random bytes).
_NONCE = secrets.token_hex(6) + ":"
_calls = itertools.count()


async def _admit_redis(
    buckets: list[tuple[str, int]], weight: int, window: float
) -> tuple[int, float] | None:
    client = state().redis()
    script = _scripts.get(id(client))
    if script is None:
        script = _scripts[id(client)] = client.register_script(_SLIDING_LOG)
    keys = [key for key, _ in buckets]
    args: list[int | str] = [
        int(window * 1_000_000),
        f"{_NONCE}{next(_calls)}",
        weight,
    ]
    args += [cap for _, cap in buckets]
    index, wait_us = await state().breaker.call(lambda: script(keys=keys, args=args))
    if not int(index):
        return None
    return int(index) - 1, int(wait_us) / 1_000_000


def _redis_failed(exc: RedisUnavailable) -> None:
    """Apply ``GATEWAY_LIMITS_ON_REDIS_ERROR``: admit with a warning, or refuse."""
    global _last_warning
    if settings.GATEWAY_LIMITS_ON_REDIS_ERROR == "closed":
        raise GatewayError(
            "Rate limits cannot be checked right now; retry shortly.",
            status=503,
            type="api_error",
            code="limits_unavailable",
            retry_after=max(1.0, state().breaker.seconds_left()),
        )
    now = time.monotonic()
    if now - _last_warning >= WARN_EVERY:
        _last_warning = now
        logger.warning("rate limits not enforced, Redis is unreachable: %s", exc)


async def admit(
    caps: list[tuple[str, int | None]], weight: int = 1
) -> tuple[str, float] | None:
    """Count one request (``weight`` units) against each capped bucket.

    All or nothing: a refused request counts nowhere. Returns ``(bucket label,
    seconds until the bucket admits this weight again)`` for the first bucket
    that is full, or None when admitted. Raises a 503 ``GatewayError`` when
    Redis is unreachable and limits fail closed.
    """
    active = [(label, int(cap)) for label, cap in caps if cap]
    if not active:
        return None
    weight = max(1, int(weight))
    window = window_seconds()
    buckets = [(f"{KEY_PREFIX}{label}", cap) for label, cap in active]
    if settings.REDIS_URL:
        try:
            refused = await _admit_redis(buckets, weight, window)
        except RedisUnavailable as exc:
            _redis_failed(exc)
            return None
    else:
        refused = _local.admit(buckets, weight, window)
    if refused is None:
        return None
    index, wait = refused
    return active[index][0], max(0.001, wait)
