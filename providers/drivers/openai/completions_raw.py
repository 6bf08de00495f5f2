"""OpenAI legacy Completions bodies sent as the client sent them: the pass-through.

``Driver.completions_raw`` (``base.py``) sends a client's ``POST /completions``
body to a provider that serves the endpoint itself (OpenAI, Azure OpenAI, the
OpenAI-compatible servers) with only ``model`` replaced, and ``stream_options``
asking for usage when the stream allows it (``translate.build_completions_body``).
What comes back:

- ``RawCompletion``: the vendor's ``text_completion`` JSON, untouched, and its
  usage in canonical form (None when it reported none).
- ``RawCompletionStream``: the vendor's ``data:`` events in order
  (``passthrough.RawEvent``, the JSON text as sent; ``DONE`` for
  ``data: [DONE]``), relayed like the other pass-throughs through
  ``CompletionsTracker``: an ``{"error": ...}`` event is raised as the mapped
  ``DriverError``; a stream that ends with neither ``[DONE]`` nor a
  ``finish_reason`` was cut short. ``usage`` is the last usage a chunk carried.

Pure apart from the stream's iteration.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from providers.drivers.config import DriverConfig
from providers.drivers.errors import TransientDriverError
from providers.drivers.openai.errors import error_from_stream_event
from providers.drivers.openai.response import normalize_usage
from providers.drivers.passthrough import RawEvent, RelayedStream
from providers.drivers.stream import iter_sse, json_object

#: ``data: [DONE]``, the event that ends an OpenAI stream.
DONE = RawEvent("done", {}, "[DONE]")


def canonical_usage(usage: Any) -> dict[str, Any] | None:
    """A vendor's ``usage`` as the canonical usage the gateway records."""
    if not isinstance(usage, Mapping):
        return None
    return normalize_usage(usage)


@dataclass
class RawCompletion:
    """A non-streamed answer: the vendor's ``text_completion`` and its usage."""

    body: dict[str, Any]
    usage: dict[str, Any] | None = None
    request_id: str | None = None


class CompletionsTracker:
    """What one completions stream's events say: usage, its end, its error (pure)."""

    def __init__(self, vendor: str, cfg: DriverConfig | None = None) -> None:
        self.vendor = vendor
        self.cfg = cfg
        self.usage: dict[str, Any] | None = None
        self.done = False
        self.finished = False

    def feed(self, event: RawEvent) -> None:
        if event is DONE:
            self.done = True
            return
        data = event.data
        if "error" in data:
            raise error_from_stream_event(data, self.vendor, self.cfg)
        usage = canonical_usage(data.get("usage"))
        if usage is not None:
            self.usage = usage
        choices = data.get("choices")
        if isinstance(choices, list) and any(
            isinstance(c, Mapping) and c.get("finish_reason") for c in choices
        ):
            self.finished = True

    def finish(self, vendor: str) -> None:
        # A server that ends its body after the finish without ``[DONE]`` is
        # complete; one that ends before any finish was cut short.
        if not self.done and not self.finished:
            raise TransientDriverError(
                f"{vendor} stream ended before the completion was complete",
                status=502,
            )


class RawCompletionStream(RelayedStream):
    """The vendor's completion chunks as sent; ``usage`` fills in as they pass."""

    def __init__(
        self,
        events: AsyncIterator[RawEvent],
        tracker: CompletionsTracker,
        config: DriverConfig,
        vendor: str,
        request_id: str | None = None,
    ) -> None:
        super().__init__(events, config, vendor, request_id)
        self.tracker = tracker

    @property
    def usage(self) -> dict[str, Any] | None:
        return self.tracker.usage


async def completion_events(
    response: httpx.Response, vendor: str
) -> AsyncIterator[RawEvent]:
    """An OpenAI text/event-stream body as ``RawEvent``s, ``DONE`` at ``[DONE]``."""
    async for name, data in iter_sse(response):
        text = data.strip()
        if not text:
            continue
        if text == "[DONE]":
            yield DONE
            return
        yield RawEvent(name, json_object(text, vendor), text)
