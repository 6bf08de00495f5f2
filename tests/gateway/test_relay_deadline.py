"""The relay's deadline over a stream without pings (OpenAI's chat framer).

A read still pending at the deadline ends the stream with the 504 event and
leaves no timer behind; a cancellation from elsewhere (the caller gone) stays a
cancellation, recorded as 499. Real asyncio, real framer.
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
    assert len(got) == 4 and got[-1] == b"data: [DONE]\n\n"
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
    assert b'"code":"upstream_timeout"' in got[-1] and len(got) == 3
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
