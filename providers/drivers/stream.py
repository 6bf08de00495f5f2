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
    without ``event:`` is reported as ``message``. Lines end with ``\n``,
    ``\r\n`` or ``\r`` (the SSE spec's three), wherever the reads split them.
    The body is cut into lines as bytes, and an event's data decoded once
    (UTF-8, undecodable bytes replaced): no text decoder or line decoder per
    read (httpx's were about 6 % of a streamed call's samples).
    """
    cutter = SSECutter()
    async for block in response.aiter_bytes():
        for pair in cutter.feed(block):
            yield pair
    for pair in cutter.end():
        yield pair


class SSECutter:
    """The ``(event, data)`` pairs of a text/event-stream body, read by read
    (``iter_sse``'s parsing, pure: a stream's reader runs it in its own loop)."""

    def __init__(self) -> None:
        self.parser = _SSELines()
        self.rest = b""

    def feed(self, block: bytes) -> list[tuple[str, str]]:
        """The events that ``block`` completes."""
        text = self.rest + block if self.rest else block
        carry = b""
        if b"\r" in text:
            if text.endswith(b"\r"):  # maybe the first half of a \r\n
                text, carry = text[:-1], b"\r"
            text = text.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        lines = text.split(b"\n")
        self.rest = lines.pop() + carry
        return self.parser.feed(lines)

    def end(self) -> list[tuple[str, str]]:
        """The last line, if the body did not end with a line end; then the end."""
        rest = self.rest
        return self.parser.feed([rest.rstrip(b"\r"), b""] if rest else [b""])


class _SSELines:
    """The events that whole lines (bytes, without line ends) complete."""

    def __init__(self) -> None:
        self.event = ""
        self.data: list[bytes] = []

    def feed(self, lines: list[bytes]) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        for line in lines:
            if not line:
                if self.data:
                    data = (
                        self.data[0] if len(self.data) == 1 else b"\n".join(self.data)
                    )
                    out.append(
                        (self.event or "message", data.decode("utf-8", "replace"))
                    )
                self.event, self.data = "", []
                continue
            if line[0] == 58:  # b":", a comment
                continue
            name, _, value = line.partition(b":")
            if value[:1] == b" ":
                value = value[1:]
            if name == b"data":
                self.data.append(value)
            elif name == b"event":
                self.event = value.decode("utf-8", "replace")
        return out


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
    """``(event, JSON object)`` per SSE event; stops at a ``data: <end>`` marker.

    The reads are cut here (``SSECutter``), not event by event through
    ``iter_sse``: a generator's hop per event was half of this function's
    time per event.
    """
    cutter = SSECutter()
    blocks = response.aiter_bytes()
    while True:
        block = await anext(blocks, None)
        for event, data in cutter.end() if block is None else cutter.feed(block):
            data = data.strip()
            if end is not None and data == end:
                yield event, {end: True}
                return
            if data:
                yield event, json_object(data, vendor)
        if block is None:
            return


async def json_lines(
    response: httpx.Response, vendor: str
) -> AsyncIterator[dict[str, Any]]:
    """One JSON object per non-blank line (NDJSON)."""
    async for line in response.aiter_lines():
        line = line.strip()
        if line:
            yield json_object(line, vendor)
