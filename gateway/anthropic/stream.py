"""Canonical stream chunks as Anthropic Messages SSE events (pure).

Interface (fixed): ``EventStream(model)``, ``feed(chunk) -> list[bytes]``,
``finish() -> list[bytes]``, ``error(type, message) -> bytes``, ``ping() -> bytes``.
"""

from __future__ import annotations

from typing import Any

import orjson


def event(kind: str, data: dict[str, Any]) -> bytes:
    """One SSE event: ``event: <kind>`` and the JSON ``data`` line."""
    return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


def ping() -> bytes:
    return event("ping", {"type": "ping"})


class EventStream:
    """Turns the canonical chunks of one completion into Anthropic events."""

    def __init__(self, model: str) -> None:
        self.model = model

    def feed(self, chunk: dict[str, Any]) -> list[bytes]:
        raise NotImplementedError

    def finish(self) -> list[bytes]:
        raise NotImplementedError

    def error(self, type: str, message: str) -> bytes:
        return event("error", {"type": "error", "error": {"type": type, "message": message}})
