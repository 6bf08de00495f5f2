"""Redis script calls made in the same turn of the event loop, sent together.

Under load many calls are admitted at once (their requests arrived in one
read of the event loop's sockets), and each admission script call through
redis-py paid its own connection checkout, packing, write, read and timeout
(redis-py was 14 % of a worker's samples at 64 concurrent calls).
``ScriptBatch.call`` lets the calls of one turn go as one pipeline (not a
transaction: each script is atomic on its own, as before) in one round trip.
A call alone waits one turn for company and then goes as before; a call
cancelled before its batch is sent is left out of it.

Failures are the breaker's (``gateway.state``), as for a call alone: a
pipeline that fails raises ``RedisUnavailable`` to every call in it, and so
does a call whose own reply is an error (the breaker opens). One error is
not a failure: ``NOSCRIPT`` (the script cache emptied by a Redis restart),
where the call is sent again alone and redis-py loads the script. Batches
are per event loop.
"""

from __future__ import annotations

import asyncio
import functools
from typing import TYPE_CHECKING, Any

from redis.exceptions import NoScriptError

from gateway.state import state

if TYPE_CHECKING:
    from redis.commands.core import AsyncScript

Waiting = tuple["AsyncScript", list[Any], list[Any], "asyncio.Future[Any]"]


class ScriptBatch:
    def __init__(self) -> None:
        # Per event loop (by id, while its turn lasts): the calls that joined
        # the batch forming in this turn.
        self.joining: dict[int, list[Waiting]] = {}
        self._sending: set[asyncio.Task[None]] = set()

    async def call(self, script: AsyncScript, keys: list[Any], args: list[Any]) -> Any:
        """``script(keys, args)`` through the breaker, with the turn's others."""
        loop = asyncio.get_running_loop()
        forming = self.joining.get(id(loop))
        if forming is not None:
            future: asyncio.Future[Any] = loop.create_future()
            forming.append((script, keys, args, future))
            return await future
        joined: list[Waiting] = []
        self.joining[id(loop)] = joined
        own: asyncio.Future[Any] | None = None
        try:
            await asyncio.sleep(0)  # the calls ready in this turn join
            if joined:
                own = loop.create_future()
                joined.append((script, keys, args, own))
        finally:
            del self.joining[id(loop)]
            if joined:
                # Sent by a task of its own: neither this caller's cancellation
                # (here, or while it waits) leaves the others waiting.
                task = loop.create_task(_send(joined))
                self._sending.add(task)
                task.add_done_callback(self._sending.discard)
        if own is None:
            return await _alone(script, keys, args)
        return await own


async def _alone(script: AsyncScript, keys: list[Any], args: list[Any]) -> Any:
    return await state().breaker.call(lambda: script(keys=keys, args=args))


async def _send(batch: list[Waiting]) -> None:
    # A caller cancelled meanwhile is not counted.
    batch = [waiting for waiting in batch if not waiting[3].done()]
    if not batch:
        return
    pipe = state().redis().pipeline(transaction=False)
    for script, keys, args, _ in batch:
        pipe.evalsha(script.sha, len(keys), *keys, *args)
    try:
        replies = await state().breaker.call(lambda: pipe.execute(raise_on_error=False))
    except Exception as exc:  # RedisUnavailable: the breaker has opened
        for *_, future in batch:
            if not future.done():
                future.set_exception(exc)
        return
    for (script, keys, args, future), reply in zip(batch, replies, strict=True):
        if isinstance(reply, Exception):
            try:
                if isinstance(reply, NoScriptError):
                    reply = await _alone(script, keys, args)
                else:
                    await state().breaker.call(functools.partial(_fail, reply))
            except Exception as exc:
                if not future.done():
                    future.set_exception(exc)
                continue
        if not future.done():
            future.set_result(reply)


async def _fail(exc: Exception) -> None:
    """A reply that is an error, failing as the call alone would have."""
    raise exc
