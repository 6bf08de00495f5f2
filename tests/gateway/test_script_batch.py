"""Admission script calls of one turn of the event loop share one round trip.

Against the real Redis of the run (skipped without ``REDIS_URL``): every call
gets its own reply, in one connection; a script cache emptied meanwhile is
reloaded; one call's error reply fails that call alone, as the breaker fails
a call alone; a caller that goes away does not strand the others.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from gateway import state
from gateway.script_batch import ScriptBatch
from gateway.state import RedisUnavailable

ECHO = """
if ARGV[1] == 'bad' then return redis.error_reply('refused by the script') end
return ARGV[1] .. ':' .. KEYS[1]
"""


NAME = f"mg-batch-test-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def redis_state(settings: Any):
    if not settings.REDIS_URL:
        pytest.skip("REDIS_URL is not set")
    # The gateway's client, named: its connections can be told from others'.
    joint = "&" if "?" in settings.REDIS_URL else "?"
    settings.REDIS_URL = f"{settings.REDIS_URL}{joint}client_name={NAME}"
    settings.GATEWAY_REDIS_BREAKER_SECONDS = 0.01
    state.reset_for_tests()
    yield
    state.reset_for_tests()


def run(calls: Any) -> Any:
    async def main() -> Any:
        try:
            return await calls(state.state().redis())
        finally:
            await state.state().redis().aclose()

    return asyncio.run(main())


def test_each_call_of_a_turn_gets_its_own_reply_over_one_connection(redis_state):
    async def calls(client: Any) -> tuple[list[Any], int]:
        script = client.register_script(ECHO)
        batch = ScriptBatch()
        await batch.call(script, ["k"], ["warm"])  # the pool's first connection
        replies = await asyncio.gather(
            *(batch.call(script, [f"k{i}"], [str(i)]) for i in range(50))
        )
        clients = await client.client_list()
        return replies, sum(1 for c in clients if c.get("name") == NAME)

    replies, connections = run(calls)
    assert replies == [f"{i}:k{i}".encode() for i in range(50)]
    # Fifty calls at once one by one take fifty connections; together, one.
    assert connections == 1


def test_a_flushed_script_cache_is_reloaded_for_every_call(redis_state):
    async def calls(client: Any) -> list[Any]:
        script = client.register_script(ECHO)
        batch = ScriptBatch()
        await batch.call(script, ["k"], ["warm"])
        await client.script_flush()
        return await asyncio.gather(
            *(batch.call(script, ["k"], [str(i)]) for i in range(10))
        )

    assert run(calls) == [f"{i}:k".encode() for i in range(10)]


def test_an_error_reply_fails_its_call_alone(redis_state):
    async def calls(client: Any) -> list[Any]:
        script = client.register_script(ECHO)
        batch = ScriptBatch()
        await batch.call(script, ["k"], ["warm"])
        return await asyncio.gather(
            *(batch.call(script, ["k"], [v]) for v in ("a", "bad", "c")),
            return_exceptions=True,
        )

    first, bad, last = run(calls)
    assert (first, last) == (b"a:k", b"c:k")
    assert isinstance(bad, RedisUnavailable)
    assert "refused by the script" in str(bad)


def test_the_first_caller_cancelled_leaves_the_others_answered(redis_state):
    async def calls(client: Any) -> tuple[bool, list[Any]]:
        script = client.register_script(ECHO)
        batch = ScriptBatch()
        await batch.call(script, ["k"], ["warm"])
        tasks = [
            asyncio.ensure_future(batch.call(script, ["k"], [str(i)])) for i in range(5)
        ]
        # Every call has joined and the first has handed the batch over.
        for _ in range(3):
            await asyncio.sleep(0)
        tasks[0].cancel()
        rest = await asyncio.gather(*tasks[1:])
        await asyncio.gather(tasks[0], return_exceptions=True)
        return tasks[0].cancelled(), rest

    cancelled, rest = run(calls)
    assert cancelled
    assert rest == [f"{i}:k".encode() for i in range(1, 5)]


def test_a_first_caller_cancelled_before_sending_leaves_the_others_answered(
    redis_state,
):
    async def calls(client: Any) -> tuple[bool, list[Any], Any]:
        script = client.register_script(ECHO)
        batch = ScriptBatch()
        await batch.call(script, ["k"], ["warm"])
        await client.delete("k-cancelled")
        counting = client.register_script(
            "redis.call('INCR', KEYS[1]) return ARGV[1] .. ':' .. KEYS[1]"
        )
        tasks = [
            asyncio.ensure_future(batch.call(counting, ["k-cancelled"], [str(i)]))
            for i in range(5)
        ]
        await asyncio.sleep(0)  # every call has joined; the first still waits
        tasks[0].cancel()
        rest = await asyncio.wait_for(asyncio.gather(*tasks[1:]), 5)
        await asyncio.gather(tasks[0], return_exceptions=True)
        return tasks[0].cancelled(), rest, await client.get("k-cancelled")

    cancelled, rest, counted = run(calls)
    assert cancelled
    assert rest == [f"{i}:k-cancelled".encode() for i in range(1, 5)]
    # The cancelled call never reached Redis.
    assert counted == b"4"
