"""Run a sync ORM function from the gateway's async code, cleaning up like a request.

The /v1 handler skips Django's per-request signals (``config/asgi.py``), so the
thread that owns the connection closes stale or obsolete connections itself,
before and after each call, exactly as ``request_started``/``request_finished``
would have.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar, TypeVarTuple

from asgiref.sync import sync_to_async
from django.db import connections


def _release() -> None:
    """``close_old_connections``, except that a connection inside a transaction
    is left alone (the gateway never opens one; a test's wrapping one must live)."""
    for conn in connections.all(initialized_only=True):
        if not conn.in_atomic_block:
            conn.close_if_unusable_or_obsolete()


T = TypeVar("T")
Ts = TypeVarTuple("Ts")


def _closing(fn: Callable[[*Ts], T], *args: *Ts) -> T:
    _release()
    try:
        return fn(*args)
    finally:
        _release()


async def run_db(fn: Callable[[*Ts], T], *args: *Ts) -> T:
    """``fn(*args)`` on asgiref's shared sync thread (cache misses only)."""
    return await sync_to_async(_closing)(fn, *args)
