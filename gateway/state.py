"""Process-local caches of keys and routes, and how changes invalidate them.

The hot path reads only these dictionaries. Any change to keys, providers,
models, grants or memberships bumps a version: in this process at once (see
``gateway.signals``), and in Redis so every other replica drops its caches on
its next poll (at most once per ``POLL_SECONDS``). Without Redis (the embedded
platform) entries also expire after ``LOCAL_TTL`` seconds, which covers changes
made by other local processes. Either way a change takes effect within 2 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

from django.conf import settings

POLL_SECONDS = 1.0
LOCAL_TTL = 1.5
VERSION_KEY = "modelgate:gateway:version"


class TTLCache:
    """A dict whose entries expire; cleared wholesale on invalidation."""

    def __init__(self, ttl: float | None, max_entries: int = 200_000) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self.data: dict[Any, tuple[float, Any]] = {}
        self.loading: dict[Any, asyncio.Future[Any]] = {}

    def get(self, key: Any) -> Any:
        entry = self.data.get(key)
        if entry is None:
            return None
        if self.ttl is not None and entry[0] < time.monotonic():
            self.data.pop(key, None)
            return None
        return entry[1]

    def set(self, key: Any, value: Any) -> None:
        if len(self.data) >= self.max_entries:
            self.data.clear()
        expires = time.monotonic() + self.ttl if self.ttl is not None else 0.0
        self.data[key] = (expires, value)

    def clear(self) -> None:
        self.data.clear()

    async def get_or_load(self, key: Any, load: Callable[[], Awaitable[Any]]) -> Any:
        """The cached value, else one load shared by every concurrent caller.

        Without it, when an entry expires every request in flight reloads it,
        one after another on the single sync thread (a p99 cliff).
        """
        value = self.get(key)
        if value is not None:
            return value
        pending = self.loading.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.loading[key] = future
        try:
            value = await load()
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: waiters re-raise it themselves
            raise
        else:
            self.set(key, value)
            future.set_result(value)
            return value
        finally:
            self.loading.pop(key, None)


class RedisUnavailable(Exception):
    """Redis failed, timed out, or the breaker is open after a recent failure."""


class RedisBreaker:
    """Skips Redis for a short while after a failure.

    Without it every request of an outage waits for its own connect timeout
    (and a dead server's refused connections are retried by each caller).
    """

    def __init__(self, reset: Callable[[], Awaitable[None]] | None = None) -> None:
        self.open_until = 0.0
        self.reset = reset

    @property
    def is_open(self) -> bool:
        return time.monotonic() < self.open_until

    def seconds_left(self) -> float:
        return max(0.0, self.open_until - time.monotonic())

    async def call(self, command: Callable[[], Awaitable[Any]]) -> Any:
        """Run one Redis command, or raise ``RedisUnavailable`` without waiting."""
        if self.is_open:
            raise RedisUnavailable("Redis is skipped after a recent failure")
        try:
            # The client's socket timeouts bound the connect and every read.
            return await command()
        except Exception as exc:  # redis errors, OSError, timeouts alike
            self.open_until = time.monotonic() + settings.GATEWAY_REDIS_BREAKER_SECONDS
            if self.reset is not None:
                # Every pooled connection died with the server: dropped now,
                # each would otherwise fail (and reopen the breaker) once.
                with contextlib.suppress(Exception):
                    await self.reset()
            raise RedisUnavailable(f"{type(exc).__name__}: {exc}") from exc


class GatewayState:
    def __init__(self) -> None:
        ttl = None if settings.REDIS_URL else LOCAL_TTL
        self.keys = TTLCache(ttl)
        self.routes = TTLCache(ttl)
        self.listings = TTLCache(ttl)
        self.seen_version: int | None = None
        self.next_poll = 0.0
        self._redis: Any = None
        self.breaker = RedisBreaker(reset=self._drop_connections)

    def clear(self) -> None:
        self.keys.clear()
        self.routes.clear()
        self.listings.clear()

    def redis(self) -> Any:
        """The shared async client; every call on it fails within the timeout.

        Callers go through ``breaker`` so that an outage costs one timeout per
        ``GATEWAY_REDIS_BREAKER_SECONDS``, not one per request.
        """
        if self._redis is None:
            import redis.asyncio as aioredis

            timeout = settings.GATEWAY_REDIS_TIMEOUT
            self._redis = aioredis.from_url(
                settings.REDIS_URL,
                socket_timeout=timeout,
                socket_connect_timeout=timeout,
                retry_on_timeout=False,
            )
        return self._redis

    async def _drop_connections(self) -> None:
        if self._redis is not None:
            await self._redis.connection_pool.disconnect()

    async def refresh(self) -> None:
        """Drop caches when another process changed something (polled, cheap)."""
        if not settings.REDIS_URL:
            return
        now = time.monotonic()
        if now < self.next_poll:
            return
        self.next_poll = now + POLL_SECONDS
        try:
            raw = await self.breaker.call(lambda: self.redis().get(VERSION_KEY))
        except RedisUnavailable:
            # Redis unreachable: keep serving, but never from stale caches.
            self.clear()
            return
        version = int(raw or 0)
        if version != self.seen_version:
            self.clear()
            self.seen_version = version


_state: GatewayState | None = None


def state() -> GatewayState:
    global _state
    if _state is None:
        _state = GatewayState()
    return _state


def invalidate() -> None:
    """Called (sync) after a relevant change commits: here now, elsewhere soon."""
    if _state is not None:
        _state.clear()
    if settings.REDIS_URL:
        import redis

        try:
            client = redis.Redis.from_url(settings.REDIS_URL)
            client.incr(VERSION_KEY)
            client.close()
        except redis.RedisError:
            pass


def reset_for_tests() -> None:
    global _state
    _state = None
