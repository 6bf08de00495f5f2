"""OpenAI Responses bodies sent as the client sent them: the pass-through types.

``Driver.responses_raw`` (``base.py``) sends a client's Responses create body
to a provider whose ``wire_api`` is ``responses`` with only ``model`` replaced
(and ``stream`` set to what the call does): built-in tools, reasoning items
with their ``encrypted_content``, ``include``, ``store`` and every field we do
not know travel untouched. What comes back:

- ``RawResponse``: the vendor's ``Response`` JSON, untouched, and its usage.
- ``RawResponseStream``: the vendor's events in order (``passthrough.RawEvent``,
  the JSON text as sent), relayed like ``RawStream`` through ``ResponsesTracker``:
  ``response.completed`` / ``response.incomplete`` / ``response.failed`` end
  it; ``response.failed`` and ``error`` events are raised as the mapped
  ``DriverError``; a stream without a terminal event was cut short.

Pure apart from the stream's iteration.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from providers.drivers.config import DriverConfig
from providers.drivers.errors import TransientDriverError
from providers.drivers.openai.responses_response import canonical_usage, failure
from providers.drivers.passthrough import RawEvent, RelayedStream

#: The events that end a Responses stream.
TERMINAL_EVENTS = frozenset(
    {"response.completed", "response.incomplete", "response.failed"}
)


@dataclass
class ResponsesUsage:
    """A Responses ``usage``; ``input_tokens`` includes the cached tokens."""

    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0

    def update(self, usage: Any) -> None:
        """Take the counts ``usage`` reports (a later report replaces them)."""
        counts = canonical_usage(usage)
        if counts is None:
            return
        self.input_tokens = counts["prompt_tokens"]
        self.output_tokens = counts["completion_tokens"]
        self.cached_tokens = counts["prompt_tokens_details"]["cached_tokens"]
        self.reasoning_tokens = counts["completion_tokens_details"]["reasoning_tokens"]

    def canonical(self) -> dict[str, Any]:
        """As the canonical usage the gateway records (PROTOCOLS.md 1.4)."""
        return {
            "prompt_tokens": self.input_tokens,
            "completion_tokens": self.output_tokens,
            "total_tokens": self.input_tokens + self.output_tokens,
            "prompt_tokens_details": {"cached_tokens": self.cached_tokens},
            "completion_tokens_details": {"reasoning_tokens": self.reasoning_tokens},
        }


@dataclass
class RawResponse:
    """A non-streamed answer: the vendor's ``Response`` as it came, and its usage."""

    body: dict[str, Any]
    usage: ResponsesUsage = field(default_factory=ResponsesUsage)
    request_id: str | None = None


class ResponsesTracker:
    """What one Responses stream's events say: usage, its end, its error (pure)."""

    def __init__(
        self, usage: ResponsesUsage, vendor: str, cfg: DriverConfig | None = None
    ) -> None:
        self.usage = usage
        self.vendor = vendor
        self.cfg = cfg
        self.done = False

    def feed(self, event: RawEvent) -> None:
        kind = event.data.get("type") or event.event
        if kind == "error":
            raise failure(event.data, self.vendor, self.cfg)
        response = event.data.get("response")
        if kind == "response.failed":
            raise failure(
                response if isinstance(response, Mapping) else {}, self.vendor, self.cfg
            )
        if kind in TERMINAL_EVENTS:
            self.done = True
            if isinstance(response, Mapping):
                self.usage.update(response.get("usage"))

    def finish(self, vendor: str) -> None:
        if not self.done:
            raise TransientDriverError(
                f"{vendor} stream ended before the response was complete",
                status=502,
            )


class RawResponseStream(RelayedStream):
    """The vendor's Responses events as sent, and their usage (filled at the end)."""

    def __init__(
        self,
        events: AsyncIterator[RawEvent],
        usage: ResponsesUsage,
        config: DriverConfig,
        vendor: str,
        request_id: str | None = None,
    ) -> None:
        super().__init__(events, config, vendor, request_id)
        self.usage = usage
