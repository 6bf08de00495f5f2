"""Anthropic Messages bodies sent as the client sent them: the pass-through types.

``Driver.messages_raw`` (``base.py``) sends a client's Messages body to a vendor
that speaks it natively (Anthropic, Bedrock's Claude models) with only the model
id and the credentials replaced. What comes back:

- ``RawMessage``: the vendor's ``Message`` JSON, untouched, and its ``RawUsage``.
- ``RawStream``: the vendor's events in order, each a ``RawEvent`` holding the
  event name, its parsed JSON and the JSON text exactly as the vendor sent it
  (``sse()`` frames it for relaying). ``usage`` fills in as the events pass
  (``message_start`` and ``message_delta``). Iterating it is behind the
  credential boundary like ``chat_stream``: an in-stream ``error`` event, a cut
  or malformed stream are raised as scrubbed ``DriverError``s.

``EventTracker`` is the pure state both vendors share: usage, completeness, the
in-stream error. Pure apart from ``RawStream``'s iteration.

The relay itself (``RelayedStream``, ``relay_events``, ``sse_raw_events``) is
protocol-neutral: OpenAI's Responses pass-through
(``openai/responses_raw.py``) runs its own ``Tracker`` through it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from providers.drivers.anthropic.errors import error_from_event
from providers.drivers.boundary import contain
from providers.drivers.config import DriverConfig
from providers.drivers.errors import (
    DriverError,
    TransientDriverError,
    invalid_request,
    malformed_stream,
    stream_error,
)
from providers.drivers.stream import iter_sse, json_object

#: The usage counters Anthropic reports (``Message.usage`` and stream events).
USAGE_FIELDS = (
    "input_tokens",
    "output_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
)


@dataclass
class RawUsage:
    """Anthropic's token counts; ``input_tokens`` excludes the cache tokens."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0

    def update(self, usage: Any) -> None:
        """Take every counter ``usage`` reports (later events override earlier)."""
        if not isinstance(usage, Mapping):
            return
        for name in USAGE_FIELDS:
            value = usage.get(name)
            if isinstance(value, int) and not isinstance(value, bool):
                setattr(self, name, value)

    def canonical(self) -> dict[str, Any]:
        """As the canonical usage the gateway records (PROTOCOLS.md 1.4)."""
        prompt = (
            self.input_tokens
            + self.cache_read_input_tokens
            + self.cache_creation_input_tokens
        )
        details = {"cached_tokens": self.cache_read_input_tokens}
        if self.cache_creation_input_tokens:
            details["cache_creation_tokens"] = self.cache_creation_input_tokens
        return {
            "prompt_tokens": prompt,
            "completion_tokens": self.output_tokens,
            "total_tokens": prompt + self.output_tokens,
            "prompt_tokens_details": details,
        }


@dataclass
class RawMessage:
    """A non-streamed answer: the vendor's ``Message`` as it came, and its usage."""

    body: dict[str, Any]
    usage: RawUsage = field(default_factory=RawUsage)
    request_id: str | None = None


@dataclass(frozen=True)
class RawEvent:
    """One Anthropic stream event: its name, its JSON, and that JSON as sent."""

    event: str
    data: dict[str, Any]
    text: str

    def sse(self) -> bytes:
        """``event: <name>`` + ``data: <json as sent>`` + blank line."""
        lines = "".join(f"data: {line}\n" for line in self.text.split("\n"))
        return f"event: {self.event}\n{lines}\n".encode()


class EventTracker:
    """What one stream's events say: usage, whether it ended, its error (pure)."""

    def __init__(self, usage: RawUsage) -> None:
        self.usage = usage
        self.started = False
        self.done = False

    def feed(self, event: RawEvent) -> None:
        """Record ``event``; an ``error`` event is raised as the mapped DriverError."""
        kind = event.data.get("type") or event.event
        if kind == "error":
            raise error_from_event(event.data)
        if kind == "message_start":
            self.started = True
            message = event.data.get("message")
            if isinstance(message, Mapping):
                self.usage.update(message.get("usage"))
        elif kind == "message_delta":
            self.usage.update(event.data.get("usage"))
        elif kind == "message_stop":
            self.done = True

    def finish(self, vendor: str) -> None:
        """At the end of the body: a stream without ``message_stop`` was cut short."""
        if not self.done:
            raise TransientDriverError(
                f"{vendor} stream ended before the message was complete",
                status=502,
            )


class Tracker(Protocol):
    """What ``relay_events`` needs of a protocol's event state."""

    @property
    def done(self) -> bool:
        """The terminal event has passed."""

    def feed(self, event: RawEvent) -> None:
        """Record ``event``; raise the mapped DriverError for an error event."""

    def finish(self, vendor: str) -> None:
        """At the end of the body: raise when the stream was cut short."""


class RelayedStream:
    """A vendor's events, relayed in order, iteration behind the boundary.

    Iterate it once, to the end, or ``aclose()`` it: either closes the upstream.
    """

    def __init__(
        self,
        events: AsyncIterator[RawEvent],
        config: DriverConfig,
        vendor: str,
        request_id: str | None = None,
    ) -> None:
        self._events = events
        self.request_id = request_id
        self._config = config
        self._vendor = vendor

    def __aiter__(self) -> AsyncIterator[RawEvent]:
        return self._relay()

    async def _relay(self) -> AsyncIterator[RawEvent]:
        try:
            async for event in self._events:
                yield event
        except Exception as exc:
            if type(exc) is TimeoutError:  # the caller's own deadline
                raise
            raise contain(exc, self._config, self._vendor) from None
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        aclose = getattr(self._events, "aclose", None)
        if aclose is not None:
            await aclose()


class RawStream(RelayedStream):
    """Anthropic Messages events as the vendor sent them, and their usage."""

    def __init__(
        self,
        events: AsyncIterator[RawEvent],
        usage: RawUsage,
        config: DriverConfig,
        vendor: str,
        request_id: str | None = None,
    ) -> None:
        super().__init__(events, config, vendor, request_id)
        self.usage = usage


async def relay_events(
    response: httpx.Response,
    events: AsyncIterator[RawEvent],
    tracker: Tracker,
    vendor: str,
) -> AsyncIterator[RawEvent]:
    """``events`` in order through ``tracker``, with ``stream.relay``'s one policy:
    a DriverError ends the stream as raised, a ValueError is a malformed event,
    any other failure is mapped by ``stream_error``; the response is closed
    whatever happens. Stops after the tracker's terminal event.
    """
    try:
        try:
            async for event in events:
                tracker.feed(event)
                yield event
                if tracker.done:
                    break
        except DriverError:
            raise
        except ValueError as exc:
            raise malformed_stream(vendor, type(exc).__name__) from None
        except Exception as exc:
            if type(exc) is TimeoutError:
                raise
            raise stream_error(exc, vendor) from None
        tracker.finish(vendor)
    finally:
        await response.aclose()


async def sse_raw_events(
    response: httpx.Response, vendor: str
) -> AsyncIterator[RawEvent]:
    """A text/event-stream body as ``RawEvent``s (the JSON text kept as sent)."""
    async for name, data in iter_sse(response):
        if not data.strip():
            continue
        payload = json_object(data, vendor)
        if name == "message":  # no ``event:`` line: the payload names itself
            name = str(payload.get("type") or name)
        yield RawEvent(name, payload, data)


def raw_body(body: Mapping[str, Any], model_id: str, stream: bool) -> dict[str, Any]:
    """A client's body with ``model`` replaced and ``stream`` set; nothing else
    changed, every field in its order (Messages and Responses alike)."""
    if not isinstance(body, Mapping):
        raise invalid_request("The request body must be a JSON object.", None)
    sent = dict(body)
    sent["model"] = model_id
    if stream:
        sent["stream"] = True
    elif "stream" in sent:
        sent["stream"] = False
    return sent
