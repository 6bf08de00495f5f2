"""OpenAI's Responses API (``POST /v1/responses``) for the OpenAI and Azure fakes.

``validate(body, reasoning_model)`` gives the 400s OpenAI gives: unknown
top-level fields ("Unknown parameter: 'x'."), item types and roles, the part
types each role may send, ``function_call_output`` answering a ``function_call``
of the same input, the flattened function-tool shape (built-in tools accepted),
``text.format``, ``include``, ``max_output_tokens`` (>= 16), ``reasoning`` on a
model without it, ``previous_response_id`` (nothing is stored here, so any is
unknown). ``answer(request, body, ...)`` follows the shared convention on the
last user text (FAIL n, SLOW s, BREAK, STREAM ERROR, ERROR EVENT, LENGTH; tools
-> a call to the first function tool with {"city": "Paris"}; a tool output ->
"The tool said: ..."; a web_search tool alone -> a canned ``web_search_call``
item, then text) as a ``Response`` object or OpenAI's exact event sequence
(``event:`` lines, ``sequence_number`` from 0). Reasoning models (ids starting
with o1/o3/o4/gpt-5) answer a reasoning item first, with ``encrypted_content``
when ``include`` asks for ``reasoning.encrypted_content`` and a summary when
``reasoning.summary`` asks for one.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes import schemas
from tests.fakes.openai import REASONING_PREFIXES, TOOL_ARGS, error, split_text

FIELDS = frozenset(
    {
        "background", "conversation", "include", "input", "instructions",
        "max_output_tokens", "max_tool_calls", "metadata", "model",
        "parallel_tool_calls", "previous_response_id", "prompt", "prompt_cache_key",
        "prompt_cache_retention", "reasoning", "safety_identifier", "service_tier",
        "store", "stream", "stream_options", "temperature", "text", "tool_choice",
        "tools", "top_logprobs", "top_p", "truncation", "user",
    }
)  # fmt: skip
BUILTIN_TOOLS = frozenset(
    {
        "web_search", "web_search_preview", "file_search", "code_interpreter",
        "image_generation", "mcp", "computer_use_preview", "local_shell", "shell",
        "apply_patch", "custom",
    }
)  # fmt: skip
INCLUDES = frozenset(
    {
        "reasoning.encrypted_content", "web_search_call.action.sources",
        "web_search_call.results", "message.output_text.logprobs",
        "file_search_call.results", "code_interpreter_call.outputs",
        "computer_call_output.output.image_url", "message.input_image.image_url",
    }
)  # fmt: skip
ITEM_TYPES = (
    "message", "function_call", "function_call_output", "reasoning",
    "web_search_call", "item_reference",
)  # fmt: skip
INPUT_PARTS = ("input_text", "input_image", "input_file")
ASSISTANT_PARTS = ("output_text", "refusal")
ROLES = ("user", "assistant", "system", "developer")
EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh")
SUMMARIES = ("auto", "concise", "detailed")
TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
SUMMARY_TEXT = "Considering the question."


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(24)}"


def is_reasoning(model: str) -> bool:
    return model.startswith(REASONING_PREFIXES)


def invalid(message: str, param: str | None, code: str | None = None) -> web.Response:
    return error(400, message, param=param, code=code)


def supported(values: tuple[str, ...]) -> str:
    quoted = [f"'{v}'" for v in values]
    return ", ".join(quoted[:-1]) + f", and {quoted[-1]}"


# -- validation -------------------------------------------------------------------


def validate(body: dict[str, Any], reasoning_model: bool) -> web.Response | None:
    """The 400 OpenAI gives for a malformed create body, or None."""
    for name in body:
        if name not in FIELDS:
            return invalid(f"Unknown parameter: '{name}'.", name, "unknown_parameter")
    if not body.get("model"):
        return invalid(
            "Missing required parameter: 'model'.",
            "model",
            "missing_required_parameter",
        )
    if "stream_options" in body and not body.get("stream"):
        return invalid(
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
            "stream_options",
        )
    if body.get("previous_response_id"):
        rid = body["previous_response_id"]
        return invalid(
            f"Previous response with id '{rid}' not found.", "previous_response_id"
        )
    return (
        _input(body.get("input"))
        or _tools(body.get("tools"))
        or _tool_choice(body.get("tool_choice"))
        or _text(body.get("text"))
        or _include(body.get("include"))
        or _numbers(body)
        or _reasoning(body.get("reasoning"), reasoning_model)
    )


def _input(value: Any) -> web.Response | None:
    if value is None:
        return None  # a prompt or previous_response_id may stand in for it
    if isinstance(value, str):
        return None
    if not isinstance(value, list):
        return invalid(
            "Invalid type for 'input': expected a string or an array.",
            "input",
            "invalid_type",
        )
    calls: set[str] = set()
    for i, item in enumerate(value):
        where = f"input[{i}]"
        if not isinstance(item, dict):
            return invalid(
                f"Invalid type for '{where}': expected an object.",
                where,
                "invalid_type",
            )
        kind = item.get("type") or ("message" if "role" in item else None)
        if kind not in ITEM_TYPES:
            return invalid(
                f"Invalid value: '{kind}'. Supported values are: "
                f"{supported(ITEM_TYPES)}.",
                f"{where}.type",
                "invalid_value",
            )
        if kind == "message":
            problem = _message(item, where)
        elif kind == "function_call":
            problem = _required(item, where, ("call_id", "name", "arguments"))
            calls.add(str(item.get("call_id")))
        elif kind == "function_call_output":
            problem = _required(item, where, ("call_id", "output"))
            if problem is None and item["call_id"] not in calls:
                return invalid(
                    "No tool call found for function call output with call_id "
                    f"{item['call_id']}.",
                    "input",
                )
        elif kind == "reasoning":
            problem = _required(item, where, ("id", "summary"))
        else:
            problem = _required(item, where, ("id",))
        if problem is not None:
            return problem
    return None


def _required(
    item: dict[str, Any], where: str, names: tuple[str, ...]
) -> web.Response | None:
    for name in names:
        if item.get(name) is None:
            return invalid(
                f"Missing required parameter: '{where}.{name}'.",
                f"{where}.{name}",
                "missing_required_parameter",
            )
    return None


def _message(item: dict[str, Any], where: str) -> web.Response | None:
    role = item.get("role")
    if role not in ROLES:
        return invalid(
            f"Invalid value: '{role}'. Supported values are: {supported(ROLES)}.",
            f"{where}.role",
            "invalid_value",
        )
    content = item.get("content")
    if isinstance(content, str):
        return None
    if not isinstance(content, list):
        return invalid(
            f"Missing required parameter: '{where}.content'.",
            f"{where}.content",
            "missing_required_parameter",
        )
    allowed = ASSISTANT_PARTS if role == "assistant" else INPUT_PARTS
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        at = f"{where}.content[{j}]"
        if kind not in allowed:
            return invalid(
                f"Invalid value: '{kind}'. Supported values are: {supported(allowed)}.",
                f"{at}.type",
                "invalid_value",
            )
        if kind in ("input_text", "output_text") and not isinstance(
            part.get("text"), str
        ):
            return _required(part, at, ("text",))
        if kind == "input_image":
            if not (part.get("image_url") or part.get("file_id")):
                return invalid(
                    f"Missing required parameter: '{at}.image_url'.",
                    f"{at}.image_url",
                    "missing_required_parameter",
                )
            if part.get("detail") not in (None, "low", "high", "auto"):
                return invalid(
                    f"Invalid value: '{part['detail']}'.",
                    f"{at}.detail",
                    "invalid_value",
                )
        if kind == "input_file" and not (
            part.get("file_id") or part.get("file_data") or part.get("file_url")
        ):
            return invalid(
                f"Missing required parameter: '{at}.file_id'.",
                f"{at}.file_id",
                "missing_required_parameter",
            )
    return None


def _tools(tools: Any) -> web.Response | None:
    for i, tool in enumerate(tools or ()):
        kind = tool.get("type") if isinstance(tool, dict) else None
        if kind in BUILTIN_TOOLS:
            if kind == "file_search" and not tool.get("vector_store_ids"):
                return _required(tool, f"tools[{i}]", ("vector_store_ids",))
            continue
        if kind != "function":
            return invalid(
                f"Invalid value: '{kind}'.", f"tools[{i}].type", "invalid_value"
            )
        if "function" in tool:
            return invalid(
                f"Unknown parameter: 'tools[{i}].function'.",
                f"tools[{i}].function",
                "unknown_parameter",
            )
        if not tool.get("name"):
            return _required(tool, f"tools[{i}]", ("name",))
        if not TOOL_NAME.match(str(tool["name"])):
            return invalid(
                f"Invalid 'tools[{i}].name': string does not match pattern.",
                f"tools[{i}].name",
                "invalid_value",
            )
        if "parameters" not in tool:
            return _required(tool, f"tools[{i}]", ("parameters",))
        if tool["parameters"] is not None and not isinstance(tool["parameters"], dict):
            return invalid(
                f"Invalid type for 'tools[{i}].parameters'.",
                f"tools[{i}].parameters",
                "invalid_type",
            )
        if "strict" in tool and not isinstance(tool["strict"], bool | None):
            return invalid(
                f"Invalid type for 'tools[{i}].strict'.",
                f"tools[{i}].strict",
                "invalid_type",
            )
    return None


def _tool_choice(choice: Any) -> web.Response | None:
    if choice is None or choice in ("none", "auto", "required"):
        return None
    if isinstance(choice, dict):
        kind = choice.get("type")
        if kind == "function" and choice.get("name"):
            return None
        if kind == "allowed_tools" and isinstance(choice.get("tools"), list):
            return None
        if kind in BUILTIN_TOOLS:
            return None
    return invalid("Invalid value for 'tool_choice'.", "tool_choice", "invalid_value")


def _text(text: Any) -> web.Response | None:
    if text is None:
        return None
    fmt = text.get("format") if isinstance(text, dict) else None
    if fmt is None:
        return None
    kind = fmt.get("type")
    if kind not in ("text", "json_object", "json_schema"):
        return invalid(
            f"Invalid value: '{kind}'. Supported values are: 'text', "
            "'json_object', and 'json_schema'.",
            "text.format.type",
            "invalid_value",
        )
    if kind == "json_schema":
        for name in ("name", "schema"):
            if not fmt.get(name):
                return invalid(
                    f"Missing required parameter: 'text.format.{name}'.",
                    f"text.format.{name}",
                    "missing_required_parameter",
                )
    return None


def _include(include: Any) -> web.Response | None:
    for i, value in enumerate(include or ()):
        if value not in INCLUDES:
            return invalid(
                f"Invalid value: '{value}'.", f"include[{i}]", "invalid_value"
            )
    return None


def _numbers(body: dict[str, Any]) -> web.Response | None:
    limit = body.get("max_output_tokens")
    if limit is not None and (not isinstance(limit, int) or limit < 16):
        return invalid(
            "Invalid 'max_output_tokens': integer below minimum value. Expected a "
            f"value >= 16, but got {limit} instead.",
            "max_output_tokens",
            "integer_below_min_value",
        )
    for name, top in (("temperature", 2), ("top_p", 1)):
        value = body.get(name)
        if value is not None and not (
            isinstance(value, int | float) and 0 <= value <= top
        ):
            return invalid(f"Invalid '{name}'.", name, "invalid_value")
    return None


def _reasoning(reasoning: Any, reasoning_model: bool) -> web.Response | None:
    if not reasoning:
        return None
    if not reasoning_model and reasoning.get("effort") is not None:
        return invalid(
            "Unsupported parameter: 'reasoning.effort' is not supported with "
            "this model.",
            "reasoning.effort",
            "unsupported_parameter",
        )
    if reasoning.get("effort") not in (None, *EFFORTS):
        return invalid(
            f"Invalid value: '{reasoning['effort']}'.",
            "reasoning.effort",
            "invalid_value",
        )
    if reasoning.get("summary") not in (None, *SUMMARIES):
        return invalid(
            f"Invalid value: '{reasoning['summary']}'.",
            "reasoning.summary",
            "invalid_value",
        )
    return None


# -- the answer -------------------------------------------------------------------


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(str(p.get("text", "")) for p in content or () if isinstance(p, dict))


def _items(body: dict[str, Any]) -> list[dict[str, Any]]:
    value = body.get("input")
    if isinstance(value, str):
        return [{"type": "message", "role": "user", "content": value}]
    return [i for i in value or () if isinstance(i, dict)]


@dataclass
class Plan:
    """What the fake answers: its output items in order, and how it ends."""

    items: list[dict[str, Any]] = field(default_factory=list)
    incomplete: bool = False
    slow: float = 0.0
    brk: bool = False
    failed: bool = False
    error_event: bool = False


def plan(body: dict[str, Any], vendor: str, model: str) -> Plan | int:
    """The shared convention; an int is FAIL <status>."""
    items = _items(body)
    user = next(
        (
            _text_of(i.get("content")).strip()
            for i in reversed(items)
            if i.get("type", "message") == "message" and i.get("role") == "user"
        ),
        "",
    )
    upper = user.upper()
    out = Plan()
    if upper.startswith("FAIL "):
        return int(user.split()[1])
    if upper.startswith("SLOW "):
        out.slow = float(user.split()[1])
    if is_reasoning(model):
        out.items.append(_reasoning_item(body))
    functions = [t for t in body.get("tools") or () if t.get("type") == "function"]
    searches = [t for t in body.get("tools") or () if t.get("type") == "web_search"]
    if items and items[-1].get("type") == "function_call_output":
        output = items[-1]["output"]
        out.items.append(_message_item(f"The tool said: {_text_of(output)}"))
    elif functions:
        out.items.append(_function_call(functions[0]["name"]))
    else:
        if searches:
            out.items.append(_web_search(user))
        text = f"Hello from {vendor}: {user}"
        fmt = (body.get("text") or {}).get("format") or {}
        if fmt.get("type") == "json_schema":  # the answer follows the schema
            text = json.dumps(schemas.sample(fmt.get("schema")))
        if upper == "LENGTH":
            text, out.incomplete = f"Hello from {vendor}: cut", True
        out.brk = upper == "BREAK"
        out.failed = upper == "STREAM ERROR"
        out.error_event = upper == "ERROR EVENT"
        out.items.append(_message_item(text, incomplete=out.incomplete))
    return out


def _message_item(text: str, *, incomplete: bool = False) -> dict[str, Any]:
    return {
        "id": new_id("msg"),
        "type": "message",
        "status": "incomplete" if incomplete else "completed",
        "role": "assistant",
        "content": [
            {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
        ],
    }


def _function_call(name: str) -> dict[str, Any]:
    return {
        "id": new_id("fc"),
        "type": "function_call",
        "status": "completed",
        "arguments": "".join(TOOL_ARGS),
        "call_id": "call_" + secrets.token_hex(12),
        "name": name,
    }


def _web_search(query: str) -> dict[str, Any]:
    return {
        "id": new_id("ws"),
        "type": "web_search_call",
        "status": "completed",
        "action": {"type": "search", "query": query or "news"},
    }


def _reasoning_item(body: dict[str, Any]) -> dict[str, Any]:
    item: dict[str, Any] = {"id": new_id("rs"), "type": "reasoning", "summary": []}
    if (body.get("reasoning") or {}).get("summary"):
        item["summary"] = [{"type": "summary_text", "text": SUMMARY_TEXT}]
    if "reasoning.encrypted_content" in (body.get("include") or ()):
        item["encrypted_content"] = "enc_" + secrets.token_urlsafe(48)
    return item


def usage(reasoning_model: bool) -> dict[str, Any]:
    reasoning = 5 if reasoning_model else 0
    return {
        "input_tokens": 11,
        "input_tokens_details": {"cached_tokens": 3, "cache_write_tokens": 0},
        "output_tokens": 7 + reasoning,
        "output_tokens_details": {"reasoning_tokens": reasoning},
        "total_tokens": 18 + reasoning,
    }


@dataclass(frozen=True)
class Identity:
    """The id and creation time every event of one response repeats."""

    id: str = field(default_factory=lambda: new_id("resp"))
    created_at: int = field(default_factory=lambda: int(time.time()))


def response_object(
    body: dict[str, Any],
    model: str,
    output: list[dict[str, Any]],
    status: str,
    identity: Identity,
) -> dict[str, Any]:
    """A ``Response`` as OpenAI returns it (``output`` and ``status`` given)."""
    reasoning = body.get("reasoning") or {}
    text = dict(body.get("text") or {})
    text.setdefault("format", {"type": "text"})
    text.setdefault("verbosity", "medium")
    done = status != "in_progress"
    return {
        "id": identity.id,
        "object": "response",
        "created_at": identity.created_at,
        "status": status,
        "background": False,
        "error": None,
        "incomplete_details": (
            {"reason": "max_output_tokens"} if status == "incomplete" else None
        ),
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "max_tool_calls": None,
        "model": model,
        "output": output,
        "parallel_tool_calls": body.get("parallel_tool_calls", True),
        "previous_response_id": None,
        "prompt_cache_key": body.get("prompt_cache_key"),
        "reasoning": {
            "effort": reasoning.get("effort") if is_reasoning(model) else None,
            "summary": reasoning.get("summary"),
        },
        "safety_identifier": body.get("safety_identifier"),
        "service_tier": "default",
        "store": body.get("store", True),
        "temperature": body.get("temperature", 1.0),
        "text": text,
        "tool_choice": body.get("tool_choice", "auto"),
        "tools": body.get("tools") or [],
        "top_logprobs": 0,
        "top_p": body.get("top_p", 1.0),
        "truncation": body.get("truncation", "disabled"),
        "usage": usage(is_reasoning(model)) if done else None,
        "user": body.get("user"),
        "metadata": body.get("metadata") or {},
    }


async def answer(
    request: web.Request,
    body: dict[str, Any],
    model: str,
    vendor: str,
    failure: Callable[[int], web.Response],
) -> web.StreamResponse:
    """A valid create body's answer: FAIL, a ``Response`` or its event stream."""
    reply = plan(body, vendor, model)
    if isinstance(reply, int):
        return failure(reply)
    if reply.slow:
        await asyncio.sleep(reply.slow)
    status = "incomplete" if reply.incomplete else "completed"
    identity = Identity()
    if not body.get("stream"):
        answer = response_object(body, model, reply.items, status, identity)
        return web.json_response(answer)
    return await _stream(request, body, model, reply, status, identity)


async def _stream(
    request: web.Request,
    body: dict[str, Any],
    model: str,
    reply: Plan,
    status: str,
    identity: Identity,
) -> web.StreamResponse:
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
    )
    await response.prepare(request)
    sequence = 0

    async def send(kind: str, **data: Any) -> None:
        nonlocal sequence
        payload = {"type": kind, "sequence_number": sequence, **data}
        sequence += 1
        await response.write(f"event: {kind}\ndata: {json.dumps(payload)}\n\n".encode())

    start = response_object(body, model, [], "in_progress", identity)
    await send("response.created", response=start)
    await send("response.in_progress", response=start)
    for index, item in enumerate(reply.items):
        where = {"item_id": item["id"], "output_index": index}
        if item["type"] == "message":
            added = {**item, "status": "in_progress", "content": []}
            await send("response.output_item.added", output_index=index, item=added)
            text = item["content"][0]["text"]
            empty = {
                "type": "output_text",
                "text": "",
                "annotations": [],
                "logprobs": [],
            }
            await send(
                "response.content_part.added", **where, content_index=0, part=empty
            )
            for n, piece in enumerate(split_text(text)):
                await send(
                    "response.output_text.delta",
                    **where,
                    content_index=0,
                    delta=piece,
                    logprobs=[],
                )
                if reply.brk and n == 1:
                    assert request.transport is not None
                    request.transport.abort()
                    return response
                if reply.failed and n == 1:
                    failed = response_object(body, model, [], "failed", identity)
                    failed["error"] = {
                        "code": "server_error",
                        "message": "The server had an error while processing your "
                        "request. Sorry about that!",
                    }
                    failed["usage"] = None
                    await send("response.failed", response=failed)
                    await response.write_eof()
                    return response
                if reply.error_event and n == 1:
                    await send(
                        "error",
                        code="rate_limit_exceeded",
                        message="Rate limit reached for requests.",
                        param=None,
                    )
                    await response.write_eof()
                    return response
            await send(
                "response.output_text.done",
                **where,
                content_index=0,
                text=text,
                logprobs=[],
            )
            await send(
                "response.content_part.done",
                **where,
                content_index=0,
                part=item["content"][0],
            )
        elif item["type"] == "function_call":
            added = {**item, "status": "in_progress", "arguments": ""}
            await send("response.output_item.added", output_index=index, item=added)
            for fragment in TOOL_ARGS:
                await send(
                    "response.function_call_arguments.delta", **where, delta=fragment
                )
            await send(
                "response.function_call_arguments.done",
                **where,
                name=item["name"],
                arguments=item["arguments"],
            )
        elif item["type"] == "reasoning":
            added = {k: v for k, v in item.items() if k != "encrypted_content"}
            await send(
                "response.output_item.added",
                output_index=index,
                item={**added, "summary": []},
            )
            for s, part in enumerate(item["summary"]):
                at = {**where, "summary_index": s}
                await send(
                    "response.reasoning_summary_part.added",
                    **at,
                    part={"type": "summary_text", "text": ""},
                )
                await send(
                    "response.reasoning_summary_text.delta", **at, delta=part["text"]
                )
                await send(
                    "response.reasoning_summary_text.done", **at, text=part["text"]
                )
                await send("response.reasoning_summary_part.done", **at, part=part)
        else:  # web_search_call
            await send(
                "response.output_item.added",
                output_index=index,
                item={**item, "status": "in_progress"},
            )
            for phase in ("in_progress", "searching", "completed"):
                await send(f"response.web_search_call.{phase}", **where)
        await send("response.output_item.done", output_index=index, item=item)
    final = response_object(body, model, reply.items, status, identity)
    kind = "response.incomplete" if status == "incomplete" else "response.completed"
    await send(kind, response=final)
    await response.write_eof()
    return response
