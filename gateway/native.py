"""Anthropic's Messages body to the vendors that speak it: the pass-through.

For a candidate whose driver ``accepts_messages_raw`` (Anthropic, and Bedrock's
Claude models through Bedrock's native Anthropic body) the client's body goes
out as sent (``Driver.messages_raw``): only the model id and the credentials
change, so every field (system blocks, ``cache_control``, extended thinking and
its signatures, documents, service tier, fields newer than this gateway)
reaches the vendor, and the vendor itself judges it. The answer comes back as
the vendor wrote it, only ``model`` renamed to the name the caller used; a
stream is the vendor's own events, relayed one by one (``NativeFramer``), with
the same pings, deadline, disconnect handling and usage record as any stream
(``gateway.relay``). The usage recorded is the vendor's, cache reads and writes
included (``RawUsage.canonical``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from gateway.anthropic import errors as anthropic_errors
from gateway.anthropic import stream as anthropic_stream
from gateway.call import (
    Call,
    OpenStream,
    driver_for,
    open_raw_stream,
    total_timeout,
)
from gateway.errors import DriverError
from gateway.routing import Candidate
from providers.drivers.openai.responses_raw import ResponsesUsage
from providers.drivers.passthrough import RawEvent, RawMessage, RawUsage


def accepts(candidate: Candidate) -> bool:
    """Whether ``candidate``'s vendor takes the client's Messages body as sent."""
    if candidate.driver_config is None:
        return False  # its attempt answers the misconfiguration
    return driver_for(candidate).accepts_messages_raw(candidate.model_id)


async def send(
    candidate: Candidate, body: dict[str, Any], betas: Sequence[str]
) -> RawMessage:
    """The vendor's whole ``Message`` for the client's ``body``."""
    driver = driver_for(candidate)
    async with asyncio.timeout(total_timeout(candidate)):
        return await driver.messages_raw(body, candidate.model_id, betas=betas)


def answered(call: Call, candidate: Candidate, raw: RawMessage) -> dict[str, Any]:
    """The vendor's ``Message``, named as the caller named the model, recorded."""
    raw.body["model"] = call.name
    call.record(candidate, 200, usage_data=reported(raw.usage))
    return raw.body


async def open_stream(
    candidate: Candidate, body: dict[str, Any], betas: Sequence[str]
) -> tuple[OpenStream, RawUsage]:
    """The vendor's event stream for ``body``, at its first event, and its usage.

    An ``error`` event in place of the first one is raised here, like an HTTP
    error, so the next candidate can still be tried.
    """
    opened, stream = await open_raw_stream(
        candidate,
        lambda driver: driver.messages_raw(
            body, candidate.model_id, stream=True, betas=betas
        ),
    )
    return opened, stream.usage


def reported(usage: RawUsage | ResponsesUsage) -> dict[str, Any] | None:
    """The vendor's usage in canonical form; None when it reported nothing."""
    canonical = usage.canonical()
    if not canonical["total_tokens"]:
        return None
    return canonical


class NativeFramer:
    """Relays a vendor's Anthropic events as they came (``gateway.relay``).

    Only ``message_start`` is re-encoded, to carry the caller's model name;
    every other event is the vendor's JSON text, byte for byte. ``usage``
    follows the vendor's counts as the events pass. The closing
    ``message_stop`` is held back for ``done()``, so the call is recorded
    before the last byte leaves, as for every stream.
    """

    ping_interval: float | None = anthropic_stream.PING_INTERVAL

    def __init__(self, model: str, usage: RawUsage) -> None:
        self.model = model
        self.raw_usage = usage
        self.usage: dict[str, Any] | None = None
        self.delivered = 0
        self.closing: list[bytes] = []

    def feed(self, event: RawEvent) -> list[bytes]:
        data = event.data
        kind = data.get("type")
        if kind == "content_block_delta":
            delta = data.get("delta")
            if isinstance(delta, dict):
                for key in ("text", "thinking", "partial_json"):
                    if isinstance(delta.get(key), str):
                        self.delivered += len(delta[key])
        elif kind in ("message_start", "message_delta"):
            self.usage = reported(self.raw_usage)
        if kind == "message_start" and isinstance(data.get("message"), dict):
            message = {**data["message"], "model": self.model}
            return [anthropic_stream.event(event.event, {**data, "message": message})]
        if kind == "message_stop":
            # Held back for done(): the relay records the call before it leaves.
            self.closing.append(event.sse())
            return []
        return [event.sse()]

    def done(self) -> list[bytes]:
        return self.closing

    def error(self, err: DriverError) -> bytes:
        return anthropic_stream.error_event(*anthropic_errors.event_error(err))

    def ping(self) -> bytes:
        return anthropic_stream.ping()
