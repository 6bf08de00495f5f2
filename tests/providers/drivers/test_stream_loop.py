"""The one stream loop (drivers/stream.py): its exception policy, for every vendor.

Responses are real ``httpx.Response`` objects over async byte streams, so the
loop reads, fails and closes them exactly as it does an upstream's.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from typing import Any

import httpx
import pytest

from providers.drivers.errors import DriverError, TransientDriverError
from providers.drivers.stream import iter_sse, json_lines, relay, sse_events


class Body(httpx.AsyncByteStream):
    """Sends ``parts``, then raises ``fail`` (if any); remembers being closed."""

    def __init__(self, parts: list[bytes], fail: BaseException | None = None):
        self.parts, self.fail, self.closed = parts, fail, False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for part in self.parts:
            yield part
        if self.fail is not None:
            raise self.fail

    async def aclose(self) -> None:
        self.closed = True


def answer(body: Body) -> httpx.Response:
    return httpx.Response(200, stream=body, request=httpx.Request("POST", "http://t"))


def echo(event: Any) -> Iterable[dict[str, Any]]:
    return [{"event": event}]


def collect(
    response: httpx.Response, events: AsyncIterator[Any], **kw: Any
) -> tuple[list[Any], BaseException | None]:
    got: list[Any] = []

    async def go() -> None:
        async for chunk in relay(
            response, events, kw.get("feed", echo), kw.get("finish", list), "Vendor"
        ):
            got.append(chunk)

    try:
        asyncio.run(go())
    except BaseException as exc:
        return got, exc
    return got, None


def test_a_broken_connection_ends_the_stream_with_a_transient_503() -> None:
    body = Body([b'{"a": 1}\n'], httpx.ReadError("peer reset"))
    response = answer(body)
    got, err = collect(response, json_lines(response, "Vendor"))
    assert got == [{"event": {"a": 1}}]
    assert isinstance(err, TransientDriverError)
    assert (err.status, err.code) == (503, "upstream_unavailable")
    assert body.closed


def test_an_unreadable_event_is_a_malformed_stream() -> None:
    body = Body([b'data: {"a": 1}\n\n', b"data: {not json\n\n"])
    response = answer(body)
    got, err = collect(response, sse_events(response, "Vendor"))
    assert got == [{"event": ("message", {"a": 1})}]
    assert isinstance(err, TransientDriverError) and err.code == "upstream_malformed"
    assert body.closed


def test_a_value_error_in_translation_is_a_malformed_stream() -> None:
    def feed(event: Any) -> list[dict[str, Any]]:
        raise ValueError("bad number")

    body = Body([b'{"a": 1}\n'])
    response = answer(body)
    _, err = collect(response, json_lines(response, "Vendor"), feed=feed)
    assert isinstance(err, DriverError) and err.code == "upstream_malformed"
    assert body.closed


def test_a_driver_error_from_finish_ends_the_stream_as_raised() -> None:
    def finish() -> list[dict[str, Any]]:
        raise DriverError("cut short", code="upstream_error")

    body = Body([b'{"a": 1}\n'])
    response = answer(body)
    got, err = collect(response, json_lines(response, "Vendor"), finish=finish)
    assert len(got) == 1 and isinstance(err, DriverError) and err.permanent
    assert str(err) == "cut short"


def test_an_unexpected_failure_names_only_its_type() -> None:
    body = Body([], RuntimeError("token=SECRET"))
    response = answer(body)
    _, err = collect(response, json_lines(response, "Vendor"))
    assert isinstance(err, DriverError)
    assert err.message == "Vendor stream broke off (RuntimeError)"


def test_the_callers_own_deadline_passes_unchanged() -> None:
    body = Body([], TimeoutError())
    response = answer(body)
    _, err = collect(response, json_lines(response, "Vendor"))
    assert type(err) is TimeoutError
    assert body.closed


@pytest.mark.parametrize("marker", [b"data: [DONE]\n\n"])
def test_sse_events_stop_at_the_end_marker(marker: bytes) -> None:
    body = Body([b'data: {"a": 1}\n\n', marker, b'data: {"b": 2}\n\n'])
    response = answer(body)
    got, err = collect(response, sse_events(response, "Vendor", end="[DONE]"))
    assert err is None
    assert [c["event"][1] for c in got] == [{"a": 1}, {"[DONE]": True}]


SSE_EVENTS = [
    ("message", '{"a": 1}'),
    ("content_block_delta", "line one\nline two"),
    ("message", "caf\u00e9"),
    ("ping", "{}"),
    ("message", "last"),
]
SSE_BODY = (
    b": a comment\n\n"
    b'data: {"a": 1}\n\n'
    b"event: content_block_delta\ndata: line one\ndata:line two\n\n"
    b"event: no-data\n\n\n\n"
    b"data: caf\xc3\xa9\n\n"
    b"event: ping\ndata: {}\n\n"
    b"data: last"  # no blank line before the end of the body
)


def sse_of(parts: list[bytes]) -> list[tuple[str, str]]:
    async def go() -> list[tuple[str, str]]:
        return [event async for event in iter_sse(answer(Body(parts)))]

    return asyncio.run(go())


@pytest.mark.parametrize("line_end", [b"\n", b"\r\n", b"\r"])
@pytest.mark.parametrize("piece", [1, 2, 3, 7, 10_000])
def test_sse_events_are_cut_alike_whatever_the_line_ends_and_the_reads(
    line_end: bytes, piece: int
) -> None:
    """Any of the SSE spec's line ends, and reads that split an event, a line
    end (\\r | \\n) or a UTF-8 character anywhere, give the same events."""
    body = SSE_BODY.replace(b"\n", line_end)
    parts = [body[i : i + piece] for i in range(0, len(body), piece)]
    assert sse_of(parts) == SSE_EVENTS


def test_undecodable_bytes_in_an_event_are_replaced_not_fatal() -> None:
    body = b"event: caf\xe9\ndata: bad \xff byte\n\ndata: next\n\n"
    for piece in (1, 5, len(body)):
        parts = [body[i : i + piece] for i in range(0, len(body), piece)]
        assert sse_of(parts) == [
            ("caf\ufffd", "bad \ufffd byte"),
            ("message", "next"),
        ]


JSON_BODY = (
    b": a comment\n\n"
    b'data: {"a": 1}\n\n'
    b'event: content_block_delta\ndata: {"b":\ndata: 2}\n\n'
    b"data: \n\n"  # no data: skipped
    b'data: {"c": "caf\xc3\xa9"}'  # no blank line before the end of the body
)


@pytest.mark.parametrize("line_end", [b"\n", b"\r\n", b"\r"])
@pytest.mark.parametrize("piece", [1, 2, 3, 7, 10_000])
def test_sse_events_parse_the_same_objects_whatever_the_reads(
    line_end: bytes, piece: int
) -> None:
    """``sse_events`` cuts the reads itself: split anywhere, the same objects,
    the last event included when the body ends without a blank line."""
    body = JSON_BODY.replace(b"\n", line_end)
    parts = [body[i : i + piece] for i in range(0, len(body), piece)]
    response = answer(Body(parts))
    got, err = collect(response, sse_events(response, "Vendor"))
    assert err is None
    assert [c["event"] for c in got] == [
        ("message", {"a": 1}),
        ("content_block_delta", {"b": 2}),
        ("message", {"c": "caf\u00e9"}),
    ]
