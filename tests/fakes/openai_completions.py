"""OpenAI's legacy ``POST /completions`` for the OpenAI and Azure fakes.

``validate(body)`` gives the 400s OpenAI gives: a field the endpoint does not
define ("Unrecognized request argument supplied"), a missing model or prompt,
a value of the wrong type or out of range, ``stream_options`` without
``stream``, ``best_of`` below ``n`` or streamed. ``answer(...)`` answers like
OpenAI: for each prompt (a string, strings, token arrays) ``n`` choices
"Hello from <vendor>: <prompt>" numbered ``prompt * n + choice`` (``echo``
puts the prompt first, ``logprobs`` adds the logprobs object), the shared
convention keyed on the prompt (FAIL n, SLOW s, BREAK, STREAM ERROR, LENGTH);
streamed as ``text_completion`` chunks ending with an empty text and the
finish reason, the usage chunk when ``stream_options.include_usage`` (and
``usage: null`` on every other chunk), then ``[DONE]``. ``azure=True`` adds
Azure's prompt-filter results (and its prompt-filter-only first chunk).
"""

from __future__ import annotations

import asyncio
import json
import math
import secrets
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from tests.fakes.openai import Reply, error, plan_reply, split_text

#: The models OpenAI serves on ``/v1/completions``; its chat models are refused.
COMPLETION_MODELS = frozenset({"gpt-3.5-turbo-instruct", "davinci-002", "babbage-002"})
FIELDS = frozenset(
    {
        "model", "prompt", "best_of", "echo", "frequency_penalty", "logit_bias",
        "logprobs", "max_tokens", "n", "presence_penalty", "seed", "stop", "stream",
        "stream_options", "suffix", "temperature", "top_p", "user",
    }
)  # fmt: skip
# name: (low, high, integer)
RANGES: dict[str, tuple[float, float, bool]] = {
    "temperature": (0, 2, False),
    "top_p": (0, 1, False),
    "presence_penalty": (-2, 2, False),
    "frequency_penalty": (-2, 2, False),
    "max_tokens": (0, 2**31 - 1, True),
    "n": (1, 128, True),
    "best_of": (1, 20, True),
    "logprobs": (0, 5, True),
    "seed": (-(2**63), 2**63 - 1, True),
}
TYPES: dict[str, tuple[type, ...]] = {
    "echo": (bool,),
    "stream": (bool,),
    "suffix": (str,),
    "user": (str,),
    "stream_options": (dict,),
    "logit_bias": (dict,),
}


def chat_model_refused(model: str) -> web.Response:
    return error(
        404,
        "This is a chat model and not supported in the v1/completions endpoint. "
        "Did you mean to use v1/chat/completions?",
        param="model",
    )


def _invalid_type(name: str, expected: str) -> web.Response:
    return error(
        400,
        f"Invalid type for '{name}': expected {expected}.",
        param=name,
        code="invalid_type",
    )


def _number_ok(value: Any, low: float, high: float, integer: bool) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    if integer and not isinstance(value, int):
        return False
    return math.isfinite(value) and low <= value <= high


def prompt_texts(value: Any) -> list[str] | None:
    """The prompts as texts (token arrays as ``<n tokens>``); None if invalid."""
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not value:
        return None
    if all(isinstance(v, str) for v in value):
        return list(value)
    if all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        return [f"<{len(value)} tokens>"]
    if all(
        isinstance(v, list)
        and v
        and all(isinstance(t, int) and not isinstance(t, bool) for t in v)
        for v in value
    ):
        return [f"<{len(v)} tokens>" for v in value]
    return None


def validate(
    body: dict[str, Any], *, require_model: bool = True
) -> web.Response | None:
    """The 400 OpenAI gives for a malformed completions request, or None."""
    for name in body:
        if name not in FIELDS:
            return error(400, f"Unrecognized request argument supplied: {name}")
    model = body.get("model")
    if require_model and (not isinstance(model, str) or not model):
        return error(400, "you must provide a model parameter")
    if "prompt" not in body:
        return error(
            400,
            "Missing required parameter: 'prompt'.",
            param="prompt",
            code="missing_required_parameter",
        )
    if prompt_texts(body["prompt"]) is None:
        return error(
            400,
            "Invalid type for 'prompt': expected a string, an array of strings, an "
            "array of tokens or an array of token arrays.",
            param="prompt",
            code="invalid_type",
        )
    for name, (low, high, integer) in RANGES.items():
        value = body.get(name)
        if value is not None and not _number_ok(value, low, high, integer):
            kind = "an integer" if integer else "a number"
            return _invalid_type(name, f"{kind} between {low} and {high}")
    for name, types in TYPES.items():
        value = body.get(name)
        if value is not None and not isinstance(value, types):
            return _invalid_type(name, types[0].__name__)
    stop = body.get("stop")
    if stop is not None and not isinstance(stop, str):
        if not isinstance(stop, list) or len(stop) > 4:
            return _invalid_type("stop", "a string or an array of up to 4 strings")
        if not all(isinstance(s, str) for s in stop):
            return _invalid_type("stop", "an array of strings")
    options = body.get("stream_options")
    if options is not None:
        if not body.get("stream"):
            return error(
                400,
                "The 'stream_options' parameter is only allowed when 'stream' is "
                "enabled.",
                param="stream_options",
            )
        include = options.get("include_usage")
        if include is not None and not isinstance(include, bool):
            return _invalid_type("stream_options.include_usage", "a boolean")
    for token, bias in (body.get("logit_bias") or {}).items():
        if not _number_ok(bias, -100, 100, False):
            return _invalid_type(f"logit_bias.{token}", "a number in [-100, 100]")
    n, best_of = body.get("n") or 1, body.get("best_of")
    if best_of is not None and best_of < n:
        return error(400, "best_of must be greater than or equal to n.", "best_of")
    if best_of is not None and best_of > 1 and body.get("stream"):
        return error(400, "Cannot stream results with best_of > 1.", "best_of")
    return None


def _plans(body: dict[str, Any], vendor: str) -> list[Reply] | int:
    """One reply per prompt; an int is the FAIL status to answer."""
    plans = []
    for prompt in prompt_texts(body["prompt"]) or []:
        plan = plan_reply({"messages": [{"role": "user", "content": prompt}]}, vendor)
        if isinstance(plan, tuple):
            return plan[0]
        if body.get("echo"):
            plan.text = prompt + plan.text
        plans.append(plan)
    return plans


def _logprobs(text: str) -> dict[str, Any]:
    tokens = text.split(" ")
    return {
        "tokens": tokens,
        "token_logprobs": [-0.5] * len(tokens),
        "top_logprobs": [{t: -0.5} for t in tokens],
        "text_offset": list(range(len(tokens))),
    }


async def answer(
    request: web.Request,
    body: dict[str, Any],
    model: str,
    vendor: str,
    failure: Callable[[int], web.Response],
    *,
    azure: bool = False,
    delay: float = 0.0,
) -> web.StreamResponse:
    plans = _plans(body, vendor)
    if isinstance(plans, int):
        return failure(plans)
    slow = max(plan.slow for plan in plans)
    if slow:
        await asyncio.sleep(slow)
    n = body.get("n") or 1
    choices = [(i * n + j, plan) for i, plan in enumerate(plans) for j in range(n)]
    usage = {
        "prompt_tokens": 5 * len(plans),
        "completion_tokens": 7 * len(choices),
        "total_tokens": 5 * len(plans) + 7 * len(choices),
    }
    envelope: dict[str, Any] = {
        "id": "cmpl-" + secrets.token_hex(12),
        "object": "text_completion",
        "created": int(time.time()),
        "model": model,
    }
    if not azure:
        envelope["system_fingerprint"] = "fp_fake"
    logprobs = body.get("logprobs") is not None
    filters = [
        {"prompt_index": i, "content_filter_results": {}} for i in range(len(plans))
    ]
    if not body.get("stream"):
        out = {
            **envelope,
            "choices": [
                {
                    "text": plan.text,
                    "index": index,
                    "logprobs": _logprobs(plan.text) if logprobs else None,
                    "finish_reason": plan.finish,
                    **({"content_filter_results": {}} if azure else {}),
                }
                for index, plan in choices
            ],
            "usage": usage,
        }
        if azure:
            out["prompt_filter_results"] = filters
        return web.json_response(out)
    include = bool((body.get("stream_options") or {}).get("include_usage"))
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
    )
    await response.prepare(request)

    async def send(payload: dict[str, Any] | str) -> None:
        data = payload if isinstance(payload, str) else json.dumps(payload)
        await response.write(f"data: {data}\n\n".encode())

    if azure:
        await send(
            {"id": "", "object": "", "created": 0, "model": "", "choices": [],
             "prompt_filter_results": filters}
        )  # fmt: skip

    async def chunks() -> web.StreamResponse:
        sent = 0
        for index, plan in choices:
            pieces: list[tuple[str, str | None]] = [
                (piece, None) for piece in split_text(plan.text)
            ]
            pieces.append(("", plan.finish))
            for text, finish in pieces:
                choice = {
                    "text": text,
                    "index": index,
                    "logprobs": _logprobs(text) if logprobs and text else None,
                    "finish_reason": finish,
                }
                chunk = {**envelope, "choices": [choice]}
                if include:
                    chunk["usage"] = None
                await send(chunk)
                sent += 1
                if delay:
                    await asyncio.sleep(delay)
                if plan.brk and sent == 2:
                    assert request.transport is not None
                    request.transport.abort()
                    return response
                if plan.stream_error and sent == 1:
                    await send(
                        {
                            "error": {
                                "message": "The server had an error while "
                                "processing your request. Sorry about that!",
                                "type": "server_error",
                                "param": None,
                                "code": None,
                            }
                        }
                    )
                    await response.write_eof()
                    return response
        if include:
            await send({**envelope, "choices": [], "usage": usage})
        await send("[DONE]")
        await response.write_eof()
        return response

    try:
        return await chunks()
    except asyncio.CancelledError:
        # The client went away (handler_cancellation): note when.
        events = request.app.get("events")
        if isinstance(events, dict):
            events["cancelled_at"] = time.monotonic()
        raise
