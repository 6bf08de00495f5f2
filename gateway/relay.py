"""Relaying a stream: an upstream's items re-emitted as server-sent events.

``relay`` is the streaming half of the call path (``gateway.call``): a
``Framer`` turns each item into the inbound protocol's events (``OpenAIFramer``:
canonical chunks in OpenAI's ``chat.completion.chunk`` shape, ending with
``[DONE]``; Anthropic's Messages events from canonical chunks are
``gateway.messages``', from a vendor's own events ``gateway.native``'s), and
keeps the usage the stream reported; it ends with an error event the SDKs
raise on when the stream breaks, and reports how the
stream ended (``StreamEnd``) to its ``finish`` callback exactly once, before
the last event is yielded. One exception policy: a timeout is a 504 event, a
``DriverError`` its own event, anything else a logged 500 event; the caller
going away is reported as 499; the upstream is always closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from gateway import errors, estimate
from gateway.errors import DriverError, error_event
from providers.drivers.canonical import new_completion_id, now

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class StreamEnd:
    """How a relayed stream ended, for its usage record.

    ``usage`` is the vendor's usage chunk (None when it sent none),
    ``delivered_chars`` the output characters sent to the caller (for an
    estimate), ``ttfb`` the monotonic time the relay started answering.
    """

    status: int
    error_type: str
    usage: dict[str, Any] | None
    delivered_chars: int
    ttfb: float


class Framer(Protocol):
    """How one inbound protocol frames a stream's items as SSE bytes.

    The items are canonical chunks (``CanonicalFramer``), or a vendor's own
    events relayed as they came (``gateway.native``). ``ping_interval``
    (seconds, or None for none) is how long the upstream may be silent before
    ``ping()`` is sent to keep the connection alive. ``usage`` (the canonical
    usage the vendor reported, None until it has) and ``delivered`` (output
    characters sent, for an estimate) are kept up to date by ``feed``.
    """

    ping_interval: float | None
    usage: dict[str, Any] | None
    delivered: int

    def feed(self, item: Any) -> list[bytes]:
        """The events for one item (a usage-only chunk included)."""
        ...

    def done(self) -> list[bytes]:
        """The closing events of a stream that ended well."""
        ...

    def error(self, err: DriverError) -> bytes:
        """The event a broken stream ends with."""
        ...

    def ping(self) -> bytes:
        """A keep-alive event."""
        ...


class CanonicalFramer:
    """A framer of canonical chunks: keeps ``usage`` and ``delivered`` (``Framer``)."""

    ping_interval: float | None = None

    def __init__(self) -> None:
        self.usage: dict[str, Any] | None = None
        self.delivered = 0

    def account(self, chunk: dict[str, Any]) -> None:
        """Count what ``chunk`` delivers; a usage-only chunk is the vendor's usage."""
        if chunk.get("choices"):
            self.delivered += estimate.delta_chars(chunk["choices"])
        elif chunk.get("usage"):
            self.usage = chunk["usage"]


class OpenAIEnding:
    """How a stream in OpenAI's SSE dialect ends (``[DONE]``), fails (an
    ``error`` event) and keeps alive: the chat and completions framers' share."""

    def done(self) -> list[bytes]:
        return [b"data: [DONE]\n\n"]

    def error(self, err: DriverError) -> bytes:
        return error_event(err)

    def ping(self) -> bytes:
        return b": keep-alive\n\n"


class OpenAIFramer(OpenAIEnding, CanonicalFramer):
    """OpenAI's ``chat.completion.chunk`` events; ``[DONE]`` at the end."""

    def __init__(self, model: str, include_usage: bool) -> None:
        super().__init__()
        self.include_usage = include_usage
        self.envelope = {
            "id": new_completion_id(),
            "object": "chat.completion.chunk",
            "created": now(),
            "model": model,
            "system_fingerprint": None,
        }

    def feed(self, chunk: dict[str, Any]) -> list[bytes]:
        self.account(chunk)
        if chunk.get("usage") and not chunk.get("choices"):
            if not self.include_usage:
                return []
            return [b"data: " + orjson.dumps({**self.envelope, **chunk}) + b"\n\n"]
        out = {**self.envelope, **chunk}
        if self.include_usage:
            out["usage"] = None
        else:
            out.pop("usage", None)
        return [b"data: " + orjson.dumps(out) + b"\n\n"]


#: A batch of ready events is sent once it holds this many bytes.
BATCH_BYTES = 64 * 1024


async def relay(
    first: Any,
    chunks: AsyncIterator[Any],
    deadline: float,
    *,
    framer: Framer,
    finish: Callable[[StreamEnd], None],
) -> AsyncIterator[bytes]:
    """Re-emit the upstream's items as ``framer``'s SSE events; always close it.

    ``first`` is the item already received, ``chunks`` the rest, ``deadline``
    the loop time the whole stream must end by. ``finish`` is called once,
    before the last event (``[DONE]``, the closing events or the error event)
    is yielded, so a worker killed after answering has recorded the call; a
    stream that breaks ends with the error it broke on.

    Events are yielded in batches: the items the upstream has already
    delivered (``ready``: they arrived in one read) are framed and sent as one
    write, and a batch is sent as soon as the next item would have to be
    waited for. A stream arriving token by token is sent event by event, as
    before; one that arrives in bursts costs one send per burst, not one per
    event (the sends were most of a streamed chunk's cost).
    """
    ttfb, finished = time.monotonic(), False
    pending: asyncio.Future[Any] | None = None
    # A read run up to its first wait whose rest has not been awaited yet.
    started: Any = None
    batch: list[bytes] = []
    size = 0

    def end(status: int, error_type: str = "") -> None:
        nonlocal finished
        if not finished:
            finished = True
            finish(StreamEnd(status, error_type, framer.usage, framer.delivered, ttfb))

    def flush() -> bytes:
        nonlocal size
        out = b"".join(batch)
        batch.clear()
        size = 0
        return out

    chunk: Any = first
    try:
        while chunk is not None:
            for event in framer.feed(chunk):
                batch.append(event)
                size += len(event)
            step = anext(chunks).__await__()
            if size < BATCH_BYTES:
                try:
                    blocked = step.send(None)
                except StopIteration as ready:
                    chunk = ready.value
                    continue
                except StopAsyncIteration:
                    chunk = None
                    continue
            else:
                blocked = _NOT_STARTED
            # The next item must be waited for: send what is framed first.
            if batch:
                started = step
                yield flush()
                started = None
            if framer.ping_interval is None:
                try:
                    async with asyncio.timeout_at(deadline):
                        chunk = await _Resumed(step, blocked)
                except StopAsyncIteration:
                    chunk = None
                continue
            # Pings while the upstream is silent: the read is a task of its
            # own, so waiting for it can stop (to yield a ping) and resume.
            pending = asyncio.ensure_future(_resumed_or_none(step, blocked))
            while True:
                left = deadline - asyncio.get_running_loop().time()
                if left <= 0:
                    raise TimeoutError
                done, _ = await asyncio.wait(
                    {pending}, timeout=min(framer.ping_interval, left)
                )
                if done:
                    break
                yield framer.ping()
            chunk, pending = pending.result(), None
        closing = framer.done()
        end(200)
        yield flush() + b"".join(closing)
    except TimeoutError:
        timeout = errors.stream_timeout()
        end(timeout.status, timeout.code or "")
        yield flush() + framer.error(timeout)
    except DriverError as err:
        end(err.status, err.code or err.type)
        yield flush() + framer.error(err)
    except Exception:
        # A bug of ours mid-stream: still an error the SDKs raise, and recorded.
        logger.exception("gateway error while relaying a stream")
        bug = errors.internal_error("The gateway failed while streaming the answer.")
        end(bug.status, "internal_error")
        yield flush() + framer.error(bug)
    finally:
        # Reached without an end only when the caller went away (the view was
        # cancelled or the generator closed).
        end(499, "client_disconnected")
        if started is not None:
            await _abandon(started)
        if pending is not None and not pending.done():
            pending.cancel()
            await asyncio.wait({pending})
        aclose = getattr(chunks, "aclose", None)
        if aclose is not None:
            await aclose()


_NOT_STARTED: Any = object()


class _Resumed:
    """The rest of an ``anext()`` that was run as far as it went without waiting.

    ``step`` is the awaitable's iterator and ``blocked`` what it yielded when it
    had to wait (a future, or None for a bare yield), or ``_NOT_STARTED``.
    Awaiting this hands that future to the running task and drives ``step``
    on from there, exactly as awaiting the ``anext()`` itself would have:
    results, exceptions and cancellations pass through unchanged.
    """

    __slots__ = ("blocked", "step")

    def __init__(self, step: Any, blocked: Any) -> None:
        self.step, self.blocked = step, blocked

    def __await__(self) -> Any:
        step = self.step
        try:
            waiting = self.blocked
            if waiting is _NOT_STARTED:
                waiting = step.send(None)
            while True:
                try:
                    yield waiting
                except BaseException as exc:  # a cancellation, thrown in by the task
                    waiting = step.throw(exc)
                else:
                    waiting = step.send(None)
        except StopIteration as done:
            return done.value


async def _abandon(step: Any) -> None:
    """Cancel a read that was started and never awaited, and let it unwind
    (its upstream closes), so the iterator can be closed after it."""
    try:
        waiting = step.throw(asyncio.CancelledError())
    except BaseException:  # it ended at once (cancelled, or finished)
        return
    with contextlib.suppress(BaseException):
        await _Resumed(step, waiting)


async def _resumed_or_none(step: Any, blocked: Any) -> Any:
    try:
        return await _Resumed(step, blocked)
    except StopAsyncIteration:
        return None
