"""Process-local caches of keys and routes, and how changes invalidate them.

The hot path reads only these dictionaries. Any change to keys, providers,
models, grants or memberships bumps a version: in this process at once (see
``gateway.signals``), and where every other process polls it (at most once per
``POLL_SECONDS``): a Redis key in production, shared by every replica, or the
modification time of a file in ``DATA_DIR`` on the embedded platform, whose
processes share one machine. Either way a change takes effect within 2 s, and
nothing expires on a timer (periodic reloads cost p99 and memory churn).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from django.conf import settings

POLL_SECONDS = 1.0
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


class GatewayState:
    def __init__(self) -> None:
        self.keys = TTLCache(None)
        self.routes = TTLCache(None)
        self.listings = TTLCache(None)
        self.seen_version: int | None = None
        self.next_poll = 0.0
        self._redis: Any = None

    def clear(self) -> None:
        self.keys.clear()
        self.routes.clear()
        self.listings.clear()

    def redis(self) -> Any:
        if self._redis is None:
            import redis.asyncio as aioredis

            self._redis = aioredis.from_url(settings.REDIS_URL)
        return self._redis

    async def refresh(self) -> None:
        """Drop caches when another process changed something (polled, cheap)."""
        now = time.monotonic()
        if now < self.next_poll:
            return
        self.next_poll = now + POLL_SECONDS
        if settings.REDIS_URL:
            try:
                version = int(await self.redis().get(VERSION_KEY) or 0)
            except Exception:
                # Redis unreachable: keep serving, but never from stale caches.
                self.clear()
                return
        else:
            version = _file_version()
        if version != self.seen_version:
            self.clear()
            self.seen_version = version


_state: GatewayState | None = None


def state() -> GatewayState:
    global _state
    if _state is None:
        _state = GatewayState()
    return _state


def _version_file() -> Path:
    return Path(settings.DATA_DIR) / "gateway-cache-version"


def _file_version() -> int:
    try:
        stat = _version_file().stat()
    except FileNotFoundError:
        return 0
    # Each bump replaces the file: a new inode even within one clock tick.
    return hash((stat.st_ino, stat.st_mtime_ns))


def invalidate() -> None:
    """Called (sync) after a relevant change commits: here now, elsewhere soon."""
    if _state is not None:
        _state.clear()
    if not settings.REDIS_URL:
        target = _version_file()
        fresh = target.with_name(f"{target.name}.{os.getpid()}")
        fresh.write_text(str(time.time_ns()))
        fresh.replace(target)
    else:
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
