"""Admission control: requests-per-minute caps per key, model and provider.

Fixed one-minute windows. With ``REDIS_URL`` the counters live in Redis (one
pipelined round trip per request that has any cap, shared by every replica);
without it, in this process (the embedded platform runs one web process).
"""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings

from gateway.state import state

WINDOW = 60


class LocalCounters:
    def __init__(self) -> None:
        self.window = 0
        self.counts: dict[str, int] = {}

    def incr(self, keys: list[str], window: int, cost: int = 1) -> list[int]:
        if window != self.window:
            self.window, self.counts = window, {}
        out = []
        for key in keys:
            self.counts[key] = self.counts.get(key, 0) + cost
            out.append(self.counts[key])
        return out


_local = LocalCounters()


# One round trip and one command for every bucket of a request (a pipeline of
# INCR/EXPIRE pairs cost several times more client CPU per request).
_COUNT_SCRIPT = """
local counts = {}
for i, key in ipairs(KEYS) do
  local n = redis.call('INCRBY', key, ARGV[2])
  if n == tonumber(ARGV[2]) then redis.call('EXPIRE', key, ARGV[1]) end
  counts[i] = n
end
return counts
"""
_scripts: dict[int, Any] = {}


async def _incr_redis(keys: list[str], cost: int) -> list[int]:
    redis: Any = state().redis()
    script = _scripts.get(id(redis))
    if script is None:
        script = _scripts[id(redis)] = redis.register_script(_COUNT_SCRIPT)
    return [int(v) for v in await script(keys=keys, args=[WINDOW * 2, cost])]


async def admit(
    caps: list[tuple[str, int | None]], cost: int = 1
) -> tuple[str, float] | None:
    """Count one request, weighing ``cost`` upstream calls, against each capped bucket.

    Returns ``(bucket label, seconds until the window resets)`` for the first cap
    that is exceeded, or None when the request is admitted.
    """
    active = [(label, cap) for label, cap in caps if cap]
    if not active:
        return None
    now = time.time()
    window = int(now // WINDOW)
    keys = [f"modelgate:rpm:{label}:{window}" for label, _ in active]
    if settings.REDIS_URL:
        counts = await _incr_redis(keys, cost)
    else:
        counts = _local.incr(keys, window, cost)
    for (label, cap), count in zip(active, counts, strict=True):
        if count > int(cap or 0):
            return label, (window + 1) * WINDOW - now
    return None
