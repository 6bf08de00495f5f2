"""``x-ratelimit-*`` headers, as OpenAI sends them, on every admitted call's answer.

OpenAI's names: ``x-ratelimit-limit-requests``, ``-remaining-requests``,
``-reset-requests`` and the same three for ``-tokens``; resets are durations
like ``1s``, ``6m0s`` or ``120ms`` (the time until the cap is back to full).
Each reports the tightest cap that applies to the call (key, model or provider:
the fewest remaining); a kind of cap that does not apply is not reported.

The ASGI handler (``config.asgi``) opens a slot per request (``opened``) and adds
the headers to the response's start; admission fills the slot (``note``). A
slot rather than a value, because Django runs the view in a task of its own,
whose context changes the handler would not see.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gateway.limits import Headroom

_slot: ContextVar[list[Headroom] | None] = ContextVar("ratelimit_slot", default=None)


def opened() -> list[Headroom]:
    """A fresh slot for this request (the handler reads it when answering)."""
    slot: list[Headroom] = []
    _slot.set(slot)
    return slot


def note(headroom: Headroom) -> None:
    slot = _slot.get()
    if slot is not None:
        slot[:] = [headroom]


def duration(seconds: float) -> str:
    """OpenAI's spelling of a duration: ``120ms``, ``1s``, ``6m0s``, ``1h2m3s``."""
    if seconds < 1:
        return f"{max(0, round(seconds * 1000))}ms"
    whole = round(seconds, 3)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{secs:.3f}".rstrip("0").rstrip(".") + "s"
    if hours:
        return f"{int(hours)}h{int(minutes)}m{text}"
    if minutes:
        return f"{int(minutes)}m{text}"
    return text


def headers(slot: list[Headroom]) -> list[tuple[bytes, bytes]]:
    if not slot:
        return []
    found: list[tuple[bytes, bytes]] = []
    for kind, state in (("requests", slot[0].requests), ("tokens", slot[0].tokens)):
        if state is None:
            continue
        limit, remaining, reset = state
        found += [
            (f"x-ratelimit-limit-{kind}".encode(), str(limit).encode()),
            (f"x-ratelimit-remaining-{kind}".encode(), str(remaining).encode()),
            (f"x-ratelimit-reset-{kind}".encode(), duration(reset).encode()),
        ]
    return found
