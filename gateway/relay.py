"""Recording calls and relaying streams: what happens once a provider answers.

``record_call`` journals a call's usage record (``gateway.usage``): every path
calls it before the answer's last byte is sent. ``relay`` re-emits a driver's
canonical chunks as OpenAI server-sent events and records the outcome of the
stream, errors and estimated output included.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson

from gateway import estimate, usage
from gateway.auth import KeyInfo
from gateway.errors import error_event
from gateway.routing import Candidate
from providers.drivers.canonical import new_completion_id, now
from providers.drivers.errors import DriverError

logger = logging.getLogger(__name__)


def record_call(
    key: KeyInfo,
    candidate: Candidate | None,
    endpoint: str,
    name: str,
    started: float,
    status: int,
    *,
    usage_data: dict[str, Any] | None = None,
    error_type: str = "",
    stream: bool = False,
    ttfb: float | None = None,
    estimated: bool = False,
) -> None:
    """Record one call, durably (``usage.record``): before the answer is sent."""
    usage_data = usage_data or {}
    tokens_in = int(usage_data.get("prompt_tokens") or 0)
    tokens_out = int(usage_data.get("completion_tokens") or 0)
    usage.record(
        organization_id=key.organization_id,
        user_id=key.user_id,
        api_key_id=key.key_pk,
        provider_id=candidate.provider_pk if candidate else None,
        model_id=candidate.model_pk if candidate else None,
        endpoint=endpoint,
        model_name=name[:255],
        stream=stream,
        input_tokens=tokens_in,
        output_tokens=tokens_out,
        cost=usage.cost(
            tokens_in, tokens_out, candidate.input_cost, candidate.output_cost
        )
        if candidate
        else 0,
        latency_ms=int((time.monotonic() - started) * 1000),
        ttfb_ms=int((ttfb - started) * 1000) if ttfb else None,
        status_code=status,
        error_type=error_type[:64],
        usage_estimated=estimated,
    )


async def relay(
    first: dict[str, Any],
    chunks: AsyncIterator[dict[str, Any]],
    deadline: float,
    key: KeyInfo,
    candidate: Candidate,
    name: str,
    include_usage: bool,
    started: float,
    body: dict[str, Any],
) -> AsyncIterator[bytes]:
    """Re-emit the driver's chunks as OpenAI SSE; always close the upstream.

    The call is recorded before the last event (``[DONE]`` or the error event)
    is yielded, so a worker killed after answering has journaled it. A stream
    that breaks is recorded as the error it ended with; output delivered
    without a vendor count is estimated (``usage_estimated``).
    """
    envelope = {
        "id": new_completion_id(),
        "object": "chat.completion.chunk",
        "created": now(),
        "model": name,
        "system_fingerprint": None,
    }
    usage_data: dict[str, Any] | None = None
    ttfb, delivered, recorded = time.monotonic(), 0, False

    def record(status: int, error_type: str = "") -> None:
        nonlocal recorded
        if recorded:
            return
        recorded = True
        data, estimated = estimate.usage_or_estimate(usage_data, body, delivered)
        record_call(
            key,
            candidate,
            "chat",
            name,
            started,
            status,
            usage_data=data,
            error_type=error_type,
            stream=True,
            ttfb=ttfb,
            estimated=estimated,
        )

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
        record(200)
        yield b"data: [DONE]\n\n"
    except TimeoutError:
        err = DriverError(
            "The provider stream exceeded its time limit.",
            status=504,
            code="upstream_timeout",
        )
        record(err.status, err.code or "")
        yield error_event(err)
    except DriverError as err:
        record(err.status, err.code or err.type)
        yield error_event(err)
    except Exception:
        # A bug of ours mid-stream: still an error the SDKs raise, and recorded.
        logger.exception("gateway error while relaying a stream")
        err = DriverError(
            "The gateway failed while streaming the answer.",
            status=500,
            code="internal_error",
        )
        record(err.status, "internal_error")
        yield error_event(err)
    finally:
        # Reached without a record only when the caller went away (the view
        # was cancelled or the generator closed).
        record(499, "client_disconnected")
        aclose = getattr(chunks, "aclose", None)
        if aclose is not None:
            await aclose()
