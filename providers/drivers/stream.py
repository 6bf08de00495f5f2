"""The one stream loop and its one exception policy, shared by every vendor.

A vendor supplies how its body decodes into events (``sse_events`` for
text/event-stream, ``json_lines`` for NDJSON, or its own decoder) and a
translator's ``feed(event)`` → canonical chunks and ``finish()`` → the closing
chunks (raising ``DriverError`` when the answer is incomplete). ``relay`` runs
them with the one policy:

- a ``DriverError`` (the vendor's in-band error, a malformed or cut-short answer)
  ends the stream as raised;
- a ``ValueError`` while decoding is a malformed event (``malformed_stream``);
- any other failure (broken connection, timeout between chunks) is mapped by
  ``stream_error``; a bare ``TimeoutError`` is the caller's own deadline and
  passes unchanged, as at the driver boundary;
- the upstream response is closed whatever happens.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

import httpx
import orjson

from providers.drivers.errors import DriverError, malformed_stream, stream_error

Chunk = dict[str, Any]


async def relay(
    response: httpx.Response,
    events: AsyncIterator[Any],
    feed: Callable[[Any], Iterable[Chunk]],
    finish: Callable[[], Iterable[Chunk]],
    vendor: str,
    done: Callable[[], bool] = lambda: False,
) -> AsyncIterator[Chunk]:
    """Canonical chunks from ``events`` through ``feed``/``finish`` (see module)."""
    try:
        try:
            async for event in events:
                for chunk in feed(event):
                    yield chunk
                if done():
                    break
        except DriverError:
            raise
        except ValueError as exc:
            raise malformed_stream(vendor, type(exc).__name__) from None
        except Exception as exc:
            if type(exc) is TimeoutError:
                raise
            raise stream_error(exc, vendor) from None
        for chunk in finish():
            yield chunk
    finally:
        await response.aclose()


async def iter_sse(response: httpx.Response) -> AsyncIterator[tuple[str, str]]:
    """Yield ``(event, data)`` pairs from a text/event-stream body.

    Comment lines are skipped; multi-line data is joined with newlines; an event
    without ``event:`` is reported as ``message``.
    """
    event = ""
    data_lines: list[str] = []
    async for line in response.aiter_lines():
        if line == "":
            if data_lines:
                yield event or "message", "\n".join(data_lines)
            event, data_lines = "", []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if name == "event":
            event = value
        elif name == "data":
            data_lines.append(value)
    if data_lines:
        yield event or "message", "\n".join(data_lines)


def json_object(data: str | bytes, vendor: str) -> dict[str, Any]:
    """One event's JSON object; anything else is a malformed event."""
    try:
        payload = orjson.loads(data)
    except ValueError:
        raise malformed_stream(vendor, "invalid JSON") from None
    if not isinstance(payload, dict):
        raise malformed_stream(vendor, "not a JSON object")
    return payload


async def sse_events(
    response: httpx.Response, vendor: str, end: str | None = None
) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    """``(event, JSON object)`` per SSE event; stops at a ``data: <end>`` marker."""
    async for event, data in iter_sse(response):
        data = data.strip()
        if end is not None and data == end:
            yield event, {end: True}
            return
        if data:
            yield event, json_object(data, vendor)


async def json_lines(
    response: httpx.Response, vendor: str
) -> AsyncIterator[dict[str, Any]]:
    """One JSON object per non-blank line (NDJSON)."""
    async for line in response.aiter_lines():
        line = line.strip()
        if line:
            yield json_object(line, vendor)
