"""The relay's deadline and batching over a stream without pings (OpenAI's chat framer).

A read still pending at the deadline ends the stream with the 504 event and
leaves no timer behind; a cancellation from elsewhere (the caller gone) stays a
cancellation, recorded as 499. Items the upstream has already delivered go out
in one write; an item that must be waited for sends what came before it first;
a caller that leaves between a write and the next read closes the upstream.
Real asyncio, real framer.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from gateway.relay import OpenAIFramer, StreamEnd, relay


def piece(text: str) -> dict[str, Any]:
    return {"choices": [{"index": 0, "delta": {"content": text}}]}


async def upstream(items: list[dict[str, Any]], stall: float = 0) -> AsyncIterator:
    for item in items:
        yield item
    if stall:
        await asyncio.sleep(stall)


def events(writes: list[bytes]) -> list[bytes]:
    """The SSE events in the relay's writes, in order."""
    return [e + b"\n\n" for w in writes for e in w.split(b"\n\n") if e]


def stream(chunks: AsyncIterator, seconds: float, ends: list[StreamEnd]):
    deadline = asyncio.get_running_loop().time() + seconds
    return relay(
        piece("first"),
        chunks,
        deadline,
        framer=OpenAIFramer("m", include_usage=False),
        finish=ends.append,
    )


def test_a_stream_within_its_deadline_ends_well_and_leaves_no_timer() -> None:
    async def go() -> tuple[list[bytes], list[StreamEnd]]:
        ends: list[StreamEnd] = []
        got = [e async for e in stream(upstream([piece("a"), piece("b")]), 0.2, ends)]
        await asyncio.sleep(0.4)  # past the deadline: nothing fires at the task
        return got, ends

    got, ends = asyncio.run(go())
    # Everything was there already: one write, four events, [DONE] last.
    assert len(got) == 1
    assert len(events(got)) == 4 and events(got)[-1] == b"data: [DONE]\n\n"
    assert [e.status for e in ends] == [200]


def test_a_read_still_pending_at_the_deadline_ends_with_the_504_event() -> None:
    async def go() -> tuple[list[bytes], list[StreamEnd], float]:
        ends: list[StreamEnd] = []
        loop = asyncio.get_running_loop()
        started = loop.time()
        chunks = upstream([piece("a")], stall=30)
        got = [e async for e in stream(chunks, 0.3, ends)]
        return got, ends, loop.time() - started

    got, ends, took = asyncio.run(go())
    # "first" and "a" were sent before the stalled read; the 504 event last.
    assert len(got) == 2 and len(events(got[:1])) == 2
    assert b'"code":"upstream_timeout"' in got[-1] and len(events(got)) == 3
    assert [(e.status, e.error_type) for e in ends] == [(504, "upstream_timeout")]
    assert 0.25 < took < 5


def test_a_caller_gone_during_a_read_stays_a_cancellation() -> None:
    async def go() -> list[StreamEnd]:
        ends: list[StreamEnd] = []

        async def consume() -> None:
            async for _ in stream(upstream([], stall=30), 10, ends):
                pass

        task = asyncio.create_task(consume())
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return ends

    ends = asyncio.run(go())
    assert [(e.status, e.error_type) for e in ends] == [(499, "client_disconnected")]


def test_what_must_be_waited_for_sends_what_came_before_it() -> None:
    async def paced() -> AsyncIterator:
        yield piece("a")
        yield piece("b")
        await asyncio.sleep(0.05)
        yield piece("c")
        await asyncio.sleep(0)  # a bare yield to the loop, then more at once
        yield piece("d")

    async def go() -> list[bytes]:
        ends: list[StreamEnd] = []
        return [w async for w in stream(paced(), 5, ends)]

    got = asyncio.run(go())
    texts = [[e.count(b'"content"') for e in w.split(b"\n\n") if e] for w in got]
    # first+a+b at once; c alone (d needed a turn of the loop); d with [DONE].
    assert len(texts) == 3 and len(events(got)) == 6
    assert b'"a"' in got[0] and b'"b"' in got[0] and b'"c"' in got[1]
    assert b'"d"' in got[2] and got[2].endswith(b"data: [DONE]\n\n")


def test_a_burst_past_the_batch_size_is_split_into_several_writes() -> None:
    from gateway import relay as relay_module

    async def go() -> list[bytes]:
        ends: list[StreamEnd] = []
        items = [piece("x" * 1000) for _ in range(200)]
        return [w async for w in stream(upstream(items), 5, ends)]

    got = asyncio.run(go())
    assert len(events(got)) == 202
    assert len(got) > 2
    assert all(len(w) < relay_module.BATCH_BYTES + 2000 for w in got)


def test_a_caller_gone_between_a_write_and_the_next_read_closes_the_upstream() -> None:
    closed: list[str] = []

    async def slow() -> AsyncIterator:
        try:
            yield piece("a")
            await asyncio.sleep(30)
            yield piece("b")
        finally:
            await asyncio.sleep(0)  # its cleanup may itself wait
            closed.append("upstream")

    async def go() -> list[StreamEnd]:
        ends: list[StreamEnd] = []
        events = stream(slow(), 10, ends)
        assert b'"a"' in await anext(events)  # the read of "b" is started
        await events.aclose()  # the caller leaves before it is awaited
        return ends

    ends = asyncio.run(go())
    assert closed == ["upstream"]
    assert [(e.status, e.error_type) for e in ends] == [(499, "client_disconnected")]
