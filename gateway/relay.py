"""Relaying a stream: a driver's canonical chunks re-emitted as OpenAI's SSE.

``relay`` is the streaming half of the call path (``gateway.call``): it frames
each chunk as a server-sent event in OpenAI's ``chat.completion.chunk`` shape,
ends with ``[DONE]`` or an error event the SDKs raise on, and reports how the
stream ended (``StreamEnd``) to its ``finish`` callback exactly once, before
the last event is yielded. One exception policy: a timeout is a 504 event, a
``DriverError`` its own event, anything else a logged 500 event; the caller
going away is reported as 499; the upstream is always closed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

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


async def relay(
    first: dict[str, Any],
    chunks: AsyncIterator[dict[str, Any]],
    deadline: float,
    *,
    model: str,
    include_usage: bool,
    finish: Callable[[StreamEnd], None],
) -> AsyncIterator[bytes]:
    """Re-emit the driver's chunks as OpenAI SSE; always close the upstream.

    ``first`` is the chunk already received, ``chunks`` the rest, ``deadline``
    the loop time the whole stream must end by; ``model`` is the name the
    chunks carry. ``finish`` is called once, before the last event (``[DONE]``
    or the error event) is yielded, so a worker killed after answering has
    recorded the call; a stream that breaks ends with the error it broke on.
    """
    envelope = {
        "id": new_completion_id(),
        "object": "chat.completion.chunk",
        "created": now(),
        "model": model,
        "system_fingerprint": None,
    }
    usage_data: dict[str, Any] | None = None
    ttfb, delivered, finished = time.monotonic(), 0, False

    def end(status: int, error_type: str = "") -> None:
        nonlocal finished
        if not finished:
            finished = True
            finish(StreamEnd(status, error_type, usage_data, delivered, ttfb))

    chunk: dict[str, Any] | None = first
    try:
        while chunk is not None:
            if chunk.get("choices"):
                delivered += estimate.delta_chars(chunk["choices"])
            if chunk.get("usage") and not chunk.get("choices"):
                usage_data = chunk["usage"]
                if include_usage:
                    yield b"data: " + orjson.dumps({**envelope, **chunk}) + b"\n\n"
            else:
                out = {**envelope, **chunk}
                if include_usage:
                    out["usage"] = None
                else:
                    out.pop("usage", None)
                yield b"data: " + orjson.dumps(out) + b"\n\n"
            try:
                async with asyncio.timeout_at(deadline):
                    chunk = await anext(chunks)
            except StopAsyncIteration:
                chunk = None
        end(200)
        yield b"data: [DONE]\n\n"
    except TimeoutError:
        timeout = errors.stream_timeout()
        end(timeout.status, timeout.code or "")
        yield error_event(timeout)
    except DriverError as err:
        end(err.status, err.code or err.type)
        yield error_event(err)
    except Exception:
        # A bug of ours mid-stream: still an error the SDKs raise, and recorded.
        logger.exception("gateway error while relaying a stream")
        bug = errors.internal_error("The gateway failed while streaming the answer.")
        end(bug.status, "internal_error")
        yield error_event(bug)
    finally:
        # Reached without an end only when the caller went away (the view was
        # cancelled or the generator closed).
        end(499, "client_disconnected")
        aclose = getattr(chunks, "aclose", None)
        if aclose is not None:
            await aclose()
