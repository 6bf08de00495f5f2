"""Failed API-key authentications, counted per client address.

An unknown key costs a database lookup, so an address that keeps failing is
refused with a 429 before any lookup: ``GATEWAY_AUTH_FAILURE_LIMIT`` failures per
``GATEWAY_AUTH_FAILURE_WINDOW`` seconds (fixed windows). Only failures count and
only lookups of keys not known to be valid are refused (``gateway.auth``), so
the valid keys of everyone behind the same address (an office NAT, a shared CI
runner) keep working while a misbehaving neighbour is throttled: the throttle
exists to make guessing cheap for us, and 240-bit keys cannot be guessed anyway.

With ``REDIS_URL`` the counters are shared by every replica (a GET to check, one
pipelined INCR/EXPIRE per failure); without it they live in this process. Redis
trouble never refuses a caller: the check then fails open.

The management API (sync DRF views) counts its unknown tokens with the same
limit, window and store through ``check_now``/``record_now``, under its own
name, so gateway clients failing behind an address do not lock out its admins.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from django.conf import settings

from gateway.state import RedisBreaker, RedisUnavailable, state

logger = logging.getLogger(__name__)

_MAX_LOCAL_ADDRESSES = 100_000


class LocalFailures:
    """Failure counts per address for the current window, in this process."""

    def __init__(self) -> None:
        self.window = 0
        self.counts: dict[str, int] = {}

    def get(self, address: str, window: int) -> int:
        return self.counts.get(address, 0) if window == self.window else 0

    def incr(self, address: str, window: int) -> int:
        if window != self.window or len(self.counts) >= _MAX_LOCAL_ADDRESSES:
            self.window, self.counts = window, {}
        self.counts[address] = self.counts.get(address, 0) + 1
        return self.counts[address]


_local = LocalFailures()


def _window() -> tuple[int, float]:
    """The current window's number and the seconds until it ends."""
    size = settings.GATEWAY_AUTH_FAILURE_WINDOW
    now = time.time()
    window = int(now // size)
    return window, (window + 1) * size - now


def _redis_key(address: str, window: int) -> str:
    return f"modelgate:authfail:{address}:{window}"


async def retry_after(address: str) -> float | None:
    """Seconds until ``address`` may try unknown keys again, or None if it may now."""
    window, remaining = _window()
    if settings.REDIS_URL:
        try:
            caches = state()
            key = _redis_key(address, window)
            raw = await caches.breaker.call(lambda: caches.redis().get(key))
        except RedisUnavailable as exc:
            logger.warning("auth failure throttle unavailable (%s)", type(exc).__name__)
            return None
        count = int(raw or 0)
    else:
        count = _local.get(address, window)
    return remaining if count >= settings.GATEWAY_AUTH_FAILURE_LIMIT else None


async def record_failure(address: str) -> float | None:
    """Count one failed authentication; the Retry-After if the limit is now reached."""
    window, remaining = _window()
    if settings.REDIS_URL:
        key = _redis_key(address, window)
        caches = state()

        async def count_one() -> list[Any]:
            pipe = caches.redis().pipeline(transaction=False)
            pipe.incr(key)
            pipe.expire(key, settings.GATEWAY_AUTH_FAILURE_WINDOW * 2)
            return await pipe.execute()

        try:
            count = int((await caches.breaker.call(count_one))[0])
        except RedisUnavailable as exc:
            logger.warning("auth failure throttle unavailable (%s)", type(exc).__name__)
            return None
    else:
        count = _local.incr(address, window)
    return remaining if count > settings.GATEWAY_AUTH_FAILURE_LIMIT else None


# -- The same counters for synchronous callers (the management API) ----------

_sync_client: Any = None
# As for the async pair: after a failure Redis is skipped for a while, else
# every unknown token of an outage waits two socket timeouts (check, record)
# in the thread that serves sync views.
_sync_breaker = RedisBreaker()


def _sync_redis() -> Any:
    global _sync_client
    if _sync_client is None:
        import redis

        timeout = settings.GATEWAY_REDIS_TIMEOUT
        _sync_client = redis.Redis.from_url(
            settings.REDIS_URL,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry_on_timeout=False,
        )
    return _sync_client


def check_now(address: str) -> float | None:
    """``retry_after`` for synchronous code (``address`` names its own counter)."""
    window, remaining = _window()
    if settings.REDIS_URL:
        key = _redis_key(address, window)
        try:
            raw = _sync_breaker.call_now(lambda: _sync_redis().get(key))
        except RedisUnavailable as exc:
            logger.warning("auth failure throttle unavailable (%s)", type(exc).__name__)
            return None
        count = int(raw or 0)
    else:
        count = _local.get(address, window)
    return remaining if count >= settings.GATEWAY_AUTH_FAILURE_LIMIT else None


def record_now(address: str) -> float | None:
    """``record_failure`` for synchronous code."""
    window, remaining = _window()
    if settings.REDIS_URL:
        key = _redis_key(address, window)

        def count_one() -> list[Any]:
            pipe = _sync_redis().pipeline(transaction=False)
            pipe.incr(key)
            pipe.expire(key, settings.GATEWAY_AUTH_FAILURE_WINDOW * 2)
            result: list[Any] = pipe.execute()
            return result

        try:
            count = int(_sync_breaker.call_now(count_one)[0])
        except RedisUnavailable as exc:
            logger.warning("auth failure throttle unavailable (%s)", type(exc).__name__)
            return None
    else:
        count = _local.incr(address, window)
    return remaining if count > settings.GATEWAY_AUTH_FAILURE_LIMIT else None


def reset_for_tests() -> None:
    global _local, _sync_client
    _local = LocalFailures()
    _sync_breaker.open_until = 0.0
    _sync_client = None  # the next use connects to the REDIS_URL of then
