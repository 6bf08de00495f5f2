"""Run a sync ORM function from the gateway's async code, cleaning up like a request.

The /v1 handler skips Django's per-request signals (``config/asgi.py``), so the
thread that owns the connection closes stale or obsolete connections itself,
before and after each call, exactly as ``request_started``/``request_finished``
would have.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from asgiref.sync import sync_to_async
from django.db import close_old_connections


def _closing(fn: Callable[..., Any], *args: Any) -> Any:
    close_old_connections()
    try:
        return fn(*args)
    finally:
        close_old_connections()


async def run_db(fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` on asgiref's shared sync thread (cache misses only)."""
    return await sync_to_async(_closing)(fn, *args)
