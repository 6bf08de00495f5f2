"""Process-local caches of keys and routes, and how changes invalidate them.

The hot path reads only these dictionaries. Every entry expires after
``GATEWAY_CACHE_TTL`` seconds (at most 1.5 s), whatever else happens: that alone
bounds how long any change is missed, including changes no signal sees
(``QuerySet.update``, raw SQL, another database client) and invalidations that
were lost (a writer that could not reach Redis). On top of it, a change seen by
``gateway.signals`` clears this process's caches at once and bumps a version in
Redis, which every other replica polls (at most once per ``POLL_SECONDS``), so
the usual case is faster than the TTL. A refresh costs one load per entry per
TTL per process, never one per request.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from django.conf import settings

POLL_SECONDS = 1.0
VERSION_KEY = "modelgate:gateway:version"

logger = logging.getLogger(__name__)

if TYPE_CHECKING:
    from redis.asyncio import Redis

T = TypeVar("T")


def cache_ttl() -> float:
    """Seconds a cached key or route entry may be served before it is reloaded.

    ``config/settings.py`` refuses values over 1.5 s: with a load's own time
    that keeps every change within DESIGN.md's 2 seconds.
    """
    return float(settings.GATEWAY_CACHE_TTL)


def key_bytes(key: Any) -> int:
    """Approximate bytes a cache key holds (its strings; a word for anything else)."""
    if isinstance(key, str | bytes):
        return len(key) + 50
    if isinstance(key, tuple):
        return 56 + sum(key_bytes(k) for k in key)
    return 32


class TTLCache:
    """A dict whose entries expire; cleared wholesale on invalidation.

    Bounded by entries and by the approximate bytes of its keys (names come
    from callers): past either bound the oldest entries are evicted first.
    """

    def __init__(
        self,
        ttl: float,
        max_entries: int = 200_000,
        max_key_bytes: int = 32 * 1024 * 1024,
    ) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self.max_key_bytes = max_key_bytes
        self.key_bytes = 0
        self.data: dict[Any, tuple[float, Any, int]] = {}
        self.loading: dict[Any, asyncio.Future[Any]] = {}

    def get(self, key: Any) -> Any:
        entry = self.data.get(key)
        if entry is None:
            return None
        if entry[0] < time.monotonic():
            self._drop(key)
            return None
        return entry[1]

    def discard(self, key: Any) -> None:
        """Forget one entry (no error when absent)."""
        self._drop(key)

    def _drop(self, key: Any) -> None:
        entry = self.data.pop(key, None)
        if entry is not None:
            self.key_bytes -= entry[2]

    def set(self, key: Any, value: Any) -> None:
        self._drop(key)
        size = key_bytes(key)
        while self.data and (
            len(self.data) >= self.max_entries
            or self.key_bytes + size > self.max_key_bytes
        ):
            self._drop(next(iter(self.data)))  # dicts keep insertion order
        expires = time.monotonic() + self.ttl
        self.data[key] = (expires, value, size)
        self.key_bytes += size

    def clear(self) -> None:
        self.data.clear()
        self.key_bytes = 0

    async def get_or_load(
        self,
        key: Any,
        load: Callable[[], Awaitable[Any]],
        keep: Callable[[Any], bool] | None = None,
    ) -> Any:
        """The cached value, else one load shared by every concurrent caller.

        A loaded value is cached unless ``keep`` says otherwise.

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
            if keep is None or keep(value):
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

    async def call(self, command: Callable[[], Awaitable[T]]) -> T:
        """Run one Redis command, or raise ``RedisUnavailable`` without waiting."""
        self._refuse_while_open()
        try:
            # The client's socket timeouts bound the connect and every read.
            return await command()
        except Exception as exc:  # redis errors, OSError, timeouts alike
            self._open()
            if self.reset is not None:
                # Every pooled connection died with the server: dropped now,
                # each would otherwise fail (and reopen the breaker) once.
                with contextlib.suppress(Exception):
                    await self.reset()
            raise RedisUnavailable(f"{type(exc).__name__}: {exc}") from exc

    def call_now(self, command: Callable[[], T]) -> T:
        """``call`` for a synchronous client (no ``reset``: its pool reconnects)."""
        self._refuse_while_open()
        try:
            return command()
        except Exception as exc:  # redis errors, OSError, timeouts alike
            self._open()
            raise RedisUnavailable(f"{type(exc).__name__}: {exc}") from exc

    def _refuse_while_open(self) -> None:
        if self.is_open:
            raise RedisUnavailable("Redis is skipped after a recent failure")

    def _open(self) -> None:
        self.open_until = time.monotonic() + settings.GATEWAY_REDIS_BREAKER_SECONDS


class GatewayState:
    def __init__(self) -> None:
        ttl = cache_ttl()
        self.keys = TTLCache(ttl)
        self.routes = TTLCache(ttl, max_entries=50_000, max_key_bytes=16 << 20)
        # Names that resolved to nothing: anyone can invent them, so fewer.
        self.unknown_routes = TTLCache(ttl, max_entries=10_000, max_key_bytes=4 << 20)
        self.listings = TTLCache(ttl, max_entries=50_000)
        # An organization's active budgets (gateway.budgets.applicable).
        self.budgets = TTLCache(ttl, max_entries=50_000)
        # Unknown key hashes, apart from the valid ones so that junk keys can only
        # ever evict each other (bounded; an attacker's keys are all distinct).
        self.unknown_keys = TTLCache(ttl, max_entries=10_000)
        # Hashes seen valid here: still looked up when their address is throttled
        # (revoked ones are refused by the lookup; nobody can guess members).
        self.known_keys: set[str] = set()
        self.seen_version: int | None = None
        self.next_poll = 0.0
        self._redis: Redis | None = None
        self.breaker = RedisBreaker(reset=self._drop_connections)

    def clear(self) -> None:
        self.keys.clear()
        self.unknown_keys.clear()
        self.routes.clear()
        self.unknown_routes.clear()
        self.listings.clear()
        self.budgets.clear()

    def remember_valid(self, digest: str) -> None:
        if len(self.known_keys) >= 200_000:
            self.known_keys.clear()
        self.known_keys.add(digest)

    def redis(self) -> Redis:
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
            client = redis.Redis.from_url(
                settings.REDIS_URL, socket_timeout=1.0, socket_connect_timeout=1.0
            )
            try:
                client.incr(VERSION_KEY)
            finally:
                client.close()
        except redis.RedisError as exc:
            # Not fatal: the other replicas' entries expire within the TTL anyway.
            logger.warning(
                "could not publish a gateway cache invalidation (%s); other "
                "replicas pick the change up when their entries expire",
                type(exc).__name__,
            )


def reset_for_tests() -> None:
    global _state
    _state = None
