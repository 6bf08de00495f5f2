"""A strict fake of the Anthropic Messages API (``/v1/messages``, ``/v1/models``).

Validation follows what the real API rejects (PROTOCOLS.md section 5): the
``x-api-key`` (or ``Authorization: Bearer``) value, the ``anthropic-version``
header, JSON content type, unknown top-level fields ("<field>: Extra inputs are
not permitted"), missing ``model``/``max_tokens``/``messages``, roles other than
user/assistant, empty or whitespace-only text blocks, ``tool_use`` ids outside
``[a-zA-Z0-9_-]``, ``tool_result`` blocks that do not answer the previous turn's
``tool_use`` ids, tool blocks without ``tools``, ``temperature`` above 1 or given
together with ``top_p``, trailing whitespace in a final assistant prefill.
The pass-through's fields (thinking and its signatures, cache_control,
documents, service_tier) are checked and answered by ``anthropic_features``:
thinking blocks with signatures when thinking is on, cache token usage when
cache_control is present.

Behaviour follows the shared fake convention, keyed on the text of the last user
message: tools → "Checking." + a call to the
first tool with {"city": "Paris"}; tool result → "The tool said: <result>";
"FAIL <status>"; "SLOW <seconds>"; "BREAK"; "STREAM ERROR" (an ``event: error``
with ``overloaded_error``); "STALL" (silent mid-stream until the connection
closes, noting ``app["events"]["cancelled_at"]``); "LENGTH" (``max_tokens``); otherwise
"Hello from anthropic: <text>". Usage: 11 input tokens, 7 output tokens.
Anthropic has no embeddings, so neither has this fake.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import time
import warnings
from typing import Any

from aiohttp import web

from tests.fakes import anthropic_features as features
from tests.fakes import schemas
from tests.fakes.anthropic_features import Invalid

VENDOR = "anthropic"
SETTINGS = web.AppKey("anthropic_fake_settings", dict)
INPUT_TOKENS = 11
OUTPUT_TOKENS = 7

TOP_LEVEL_FIELDS = frozenset(
    {
        "model",
        "max_tokens",
        "messages",
        "cache_control",
        "container",
        "inference_geo",
        "metadata",
        "output_config",
        "service_tier",
        "stop_sequences",
        "system",
        "temperature",
        "thinking",
        "tool_choice",
        "tools",
        "top_k",
        "top_p",
        "stream",
    }
)
BLOCK_FIELDS: dict[str, frozenset[str]] = {
    "text": frozenset({"type", "text", "cache_control", "citations"}),
    "image": frozenset({"type", "source", "cache_control"}),
    "document": frozenset(
        {"type", "source", "cache_control", "title", "context", "citations"}
    ),
    "tool_use": frozenset({"type", "id", "name", "input", "cache_control"}),
    "tool_result": frozenset(
        {"type", "tool_use_id", "content", "is_error", "cache_control"}
    ),
    "thinking": frozenset({"type", "thinking", "signature"}),
    "redacted_thinking": frozenset({"type", "data"}),
}
TOOL_FIELDS = frozenset(
    {"type", "name", "description", "input_schema", "cache_control", "strict"}
)
TOOL_CHOICE_FIELDS: dict[str, frozenset[str]] = {
    "auto": frozenset({"type", "disable_parallel_tool_use"}),
    "any": frozenset({"type", "disable_parallel_tool_use"}),
    "tool": frozenset({"type", "name", "disable_parallel_tool_use"}),
    "none": frozenset({"type"}),
}
IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
TOOL_ID_RE = re.compile(r"^[a-zA-Z0-9_-]+$")
TOOL_NAME_RE = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")

DEFAULT_MODELS: list[dict[str, Any]] = [
    {
        "type": "model",
        "id": "claude-sonnet-4-5-20250929",
        "display_name": "Claude Sonnet 4.5",
        "created_at": "2025-09-29T00:00:00Z",
    },
    {
        "type": "model",
        "id": "claude-opus-4-1-20250805",
        "display_name": "Claude Opus 4.1",
        "created_at": "2025-08-05T00:00:00Z",
    },
    {
        "type": "model",
        "id": "claude-haiku-4-5-20251001",
        "display_name": "Claude Haiku 4.5",
        "created_at": "2025-10-01T00:00:00Z",
    },
    {
        "type": "model",
        "id": "claude-3-5-haiku-20241022",
        "display_name": "Claude Haiku 3.5",
        "created_at": "2024-10-22T00:00:00Z",
    },
]

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    503: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}
ERROR_MESSAGES = {
    401: "invalid x-api-key",
    403: "Your API key does not have permission to use the specified resource.",
    404: "model: not found",
    413: "Request exceeds the maximum allowed number of bytes.",
    429: "Number of request tokens has exceeded your per-minute rate limit",
    500: "Internal server error",
    503: "Service unavailable",
    504: "Request timed out",
    529: "Overloaded",
}


def error_response(
    status: int, message: str, error_type: str | None = None
) -> web.Response:
    request_id = "req_" + secrets.token_hex(12)
    body = {
        "type": "error",
        "error": {
            "type": error_type or ERROR_TYPES.get(status, "api_error"),
            "message": message,
        },
        "request_id": request_id,
    }
    headers = {"request-id": request_id}
    if status == 429:
        headers["retry-after"] = "7"
    return web.json_response(body, status=status, headers=headers)


# -- validation ------------------------------------------------------------


def _extra(obj: dict[str, Any], allowed: frozenset[str], where: str) -> None:
    for key in obj:
        if key not in allowed:
            raise Invalid(f"{where}{key}: Extra inputs are not permitted")


def _check_text(text: Any, where: str) -> None:
    if not isinstance(text, str):
        raise Invalid(f"{where}.text: Input should be a valid string")
    if text == "":
        raise Invalid("messages: text content blocks must be non-empty")
    if not text.strip():
        raise Invalid("messages: text content blocks must contain non-whitespace text")


def _check_block(block: Any, role: str, where: str) -> None:
    if not isinstance(block, dict) or block.get("type") not in BLOCK_FIELDS:
        kind = block.get("type") if isinstance(block, dict) else None
        raise Invalid(
            f"{where}: Input tag '{kind}' found using 'type' does not match any "
            "of the expected tags"
        )
    kind = block["type"]
    _extra(block, BLOCK_FIELDS[kind], f"{where}.{kind}.")
    if kind == "text":
        _check_text(block.get("text"), where)
    elif kind == "image":
        source = block.get("source")
        if not isinstance(source, dict):
            raise Invalid(f"{where}.image.source: Field required")
        if source.get("type") == "base64":
            if source.get("media_type") not in IMAGE_TYPES:
                raise Invalid(f"{where}.image.source.base64.media_type: Input error")
            if not isinstance(source.get("data"), str) or not source["data"]:
                raise Invalid(f"{where}.image.source.base64.data: Field required")
        elif source.get("type") == "url":
            if not str(source.get("url") or "").startswith(("http://", "https://")):
                raise Invalid(f"{where}.image.source.url.url: invalid URL")
        else:
            raise Invalid(f"{where}.image.source: invalid source type")
    elif kind == "document":
        if role != "user":
            raise Invalid(f"{where}: document blocks are only allowed in user turns")
        features.check_document(block, where)
    elif kind == "tool_use":
        if role != "assistant":
            raise Invalid(
                f"{where}: tool_use blocks are only allowed in assistant turns"
            )
        if not TOOL_ID_RE.match(str(block.get("id") or "")):
            raise Invalid(
                f"{where}.tool_use.id: String should match pattern '^[a-zA-Z0-9_-]+$'"
            )
        if not isinstance(block.get("name"), str) or not block["name"]:
            raise Invalid(f"{where}.tool_use.name: Field required")
        if not isinstance(block.get("input"), dict):
            raise Invalid(f"{where}.tool_use.input: Input should be a valid dictionary")
    elif kind == "tool_result":
        if role != "user":
            raise Invalid(f"{where}: tool_result blocks are only allowed in user turns")
        if not TOOL_ID_RE.match(str(block.get("tool_use_id") or "")):
            raise Invalid(
                f"{where}.tool_result.tool_use_id: String should match pattern "
                "'^[a-zA-Z0-9_-]+$'"
            )
        content = block.get("content")
        if isinstance(content, list):
            for k, inner in enumerate(content):
                _check_block(inner, role, f"{where}.tool_result.content.{k}")
        elif content is not None and not isinstance(content, str):
            raise Invalid(f"{where}.tool_result.content: Input should be a valid list")


def _blocks(message: dict[str, Any]) -> list[dict[str, Any]]:
    content = message["content"]
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return list(content)


def _check_messages(messages: Any) -> list[dict[str, Any]]:
    """Validate ``messages``; return them merged into alternating turns."""
    if not isinstance(messages, list):
        raise Invalid("messages: Input should be a valid list")
    if not messages:
        raise Invalid("messages: at least one message is required")
    last = len(messages) - 1
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise Invalid(f"messages.{i}: Input should be a valid dictionary")
        _extra(message, frozenset({"role", "content"}), f"messages.{i}.")
        role = message.get("role")
        if role == "system":
            raise Invalid(
                'messages: Unexpected role "system". The Messages API accepts a '
                'top-level `system` parameter, not "system" as an input message role.'
            )
        if role not in ("user", "assistant"):
            raise Invalid(f"messages.{i}.role: Input should be 'user' or 'assistant'")
        content = message.get("content")
        if content is None:
            raise Invalid(f"messages.{i}.content: Field required")
        final_assistant = i == last and role == "assistant"
        if isinstance(content, str):
            if not content and not final_assistant:
                raise Invalid(
                    f"messages.{i}: all messages must have non-empty content except "
                    "for the optional final assistant message"
                )
            if content:
                _check_text(content, f"messages.{i}.content")
        elif isinstance(content, list):
            if not content and not final_assistant:
                raise Invalid(
                    f"messages.{i}: all messages must have non-empty content except "
                    "for the optional final assistant message"
                )
            for j, block in enumerate(content):
                _check_block(block, role, f"messages.{i}.content.{j}")
        else:
            raise Invalid(f"messages.{i}.content: Input should be a valid list")

    turns: list[dict[str, Any]] = []  # the API merges consecutive same-role turns
    for message in messages:
        if turns and turns[-1]["role"] == message["role"]:
            turns[-1]["content"].extend(_blocks(message))
        else:
            turns.append({"role": message["role"], "content": _blocks(message)})
    if turns[0]["role"] != "user":
        raise Invalid('messages: first message must use the "user" role')
    final = turns[-1]
    if final["role"] == "assistant" and final["content"]:
        tail = final["content"][-1]
        if tail.get("type") == "text" and tail["text"] != tail["text"].rstrip():
            raise Invalid(
                "messages: final assistant content cannot end with trailing whitespace"
            )
    _check_tool_pairing(turns)
    return turns


def _check_tool_pairing(turns: list[dict[str, Any]]) -> None:
    pending: list[str] = []
    for i, turn in enumerate(turns):
        if turn["role"] == "user":
            leading: list[str] = []
            for block in turn["content"]:
                if block.get("type") != "tool_result":
                    break
                leading.append(block["tool_use_id"])
            missing = [tid for tid in pending if tid not in leading]
            if missing:
                raise Invalid(
                    f"messages.{i}: `tool_use` ids were found without `tool_result` "
                    f"blocks immediately after: {', '.join(missing)}. Each `tool_use` "
                    "block must have a corresponding `tool_result` block in the next "
                    "message."
                )
            for j, block in enumerate(turn["content"]):
                if block.get("type") == "tool_result" and (
                    block["tool_use_id"] not in pending
                ):
                    raise Invalid(
                        f"messages.{i}.content.{j}: unexpected `tool_use_id` found in "
                        f"`tool_result` blocks: {block['tool_use_id']}. Each "
                        "`tool_result` block must have a corresponding `tool_use` "
                        "block in the previous message."
                    )
            pending = []
        else:
            pending = [b["id"] for b in turn["content"] if b.get("type") == "tool_use"]


def _number(body: dict[str, Any], name: str, high: float) -> None:
    value = body.get(name)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Invalid(f"{name}: Input should be a valid number")
    if value < 0:
        raise Invalid(f"{name}: Input should be greater than or equal to 0")
    if value > high:
        raise Invalid(f"{name}: Input should be less than or equal to {high:g}")


def _check_tools(body: dict[str, Any]) -> None:
    tools = body.get("tools")
    if tools is not None:
        if not isinstance(tools, list):
            raise Invalid("tools: Input should be a valid list")
        for i, tool in enumerate(tools):
            if not isinstance(tool, dict):
                raise Invalid(f"tools.{i}: Input should be a valid dictionary")
            _extra(tool, TOOL_FIELDS, f"tools.{i}.custom.")
            if not TOOL_NAME_RE.match(str(tool.get("name") or "")):
                raise Invalid(
                    f"tools.{i}.custom.name: String should match pattern "
                    "'^[a-zA-Z0-9_-]{1,128}$'"
                )
            schema = tool.get("input_schema")
            if not isinstance(schema, dict):
                raise Invalid(f"tools.{i}.custom.input_schema: Field required")
            if schema.get("type") != "object":
                raise Invalid(
                    f"tools.{i}.custom.input_schema.type: Input should be 'object'"
                )
    choice = body.get("tool_choice")
    if choice is not None:
        if not isinstance(choice, dict) or choice.get("type") not in TOOL_CHOICE_FIELDS:
            raise Invalid(
                "tool_choice: Input tag found using 'type' does not match any of the "
                "expected tags: 'auto', 'any', 'tool', 'none'"
            )
        _extra(
            choice, TOOL_CHOICE_FIELDS[choice["type"]], f"tool_choice.{choice['type']}."
        )
        if choice["type"] == "tool" and not choice.get("name"):
            raise Invalid("tool_choice.tool.name: Field required")
        if not tools:
            raise Invalid(
                "tool_choice: tool_choice may only be specified while providing tools"
            )


def validate_body(body: Any) -> list[dict[str, Any]]:
    """Raise ``Invalid`` like Anthropic would; return the merged turns."""
    if not isinstance(body, dict):
        raise Invalid("Input should be a valid dictionary")
    for key in body:
        if key not in TOP_LEVEL_FIELDS:
            raise Invalid(f"{key}: Extra inputs are not permitted")
    for key in ("model", "max_tokens", "messages"):
        if key not in body:
            raise Invalid(f"{key}: Field required")
    if not isinstance(body["model"], str) or not body["model"]:
        raise Invalid("model: Input should be a valid string")
    max_tokens = body["max_tokens"]
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int):
        raise Invalid("max_tokens: Input should be a valid integer")
    if max_tokens < 0:
        raise Invalid("max_tokens: Input should be greater than or equal to 0")
    system = body.get("system")
    if isinstance(system, list):
        for i, block in enumerate(system):
            if not isinstance(block, dict) or block.get("type") != "text":
                raise Invalid(f"system.{i}.type: Input should be 'text'")
            _extra(block, BLOCK_FIELDS["text"], f"system.{i}.")
            if not isinstance(block.get("text"), str) or not block["text"]:
                raise Invalid("system: text content blocks must be non-empty")
    elif system is not None and not isinstance(system, str):
        raise Invalid("system: Input should be a valid list")
    _number(body, "temperature", 1.0)
    _number(body, "top_p", 1.0)
    if body.get("temperature") is not None and body.get("top_p") is not None:
        raise Invalid(
            "`temperature` and `top_p` cannot both be specified for this model. "
            "Please use only one."
        )
    stops = body.get("stop_sequences")
    if stops is not None:
        if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops):
            raise Invalid("stop_sequences: Input should be a valid list")
        if any(not s.strip() for s in stops):
            raise Invalid(
                "stop_sequences: each stop sequence must contain non-whitespace text"
            )
    if "stream" in body and not isinstance(body["stream"], bool):
        raise Invalid("stream: Input should be a valid boolean")
    metadata = body.get("metadata")
    if metadata is not None:
        if not isinstance(metadata, dict):
            raise Invalid("metadata: Input should be a valid dictionary")
        _extra(metadata, frozenset({"user_id"}), "metadata.")
    features.check_service_tier(body)
    thinking = features.thinking_enabled(body)
    features.check_cache_control(body)
    output = body.get("output_config")
    if output is not None:
        if not isinstance(output, dict):
            raise Invalid("output_config: Input should be a valid dictionary")
        _extra(output, frozenset({"format", "effort"}), "output_config.")
        fmt = output.get("format")
        if fmt is not None and (
            not isinstance(fmt, dict)
            or fmt.get("type") != "json_schema"
            or not isinstance(fmt.get("schema"), dict)
            or set(fmt) - {"type", "schema"}
        ):
            raise Invalid("output_config.format: invalid json_schema format")
        if fmt is not None:
            if not structured_outputs(str(body.get("model"))):
                raise Invalid(
                    f"'{body.get('model')}' does not support output_config.format."
                )
            problem = schemas.check(fmt["schema"])
            if problem:
                raise Invalid(f"output_config.format.schema: {problem}")
    _check_tools(body)
    turns = _check_messages(body["messages"])
    features.check_thinking_blocks(turns, thinking)
    if not body.get("tools") and any(
        block.get("type") in ("tool_use", "tool_result")
        for turn in turns
        for block in turn["content"]
    ):
        raise Invalid(
            "Requests which include `tool_use` or `tool_result` blocks must define "
            "tools."
        )
    return turns


# -- answers ------------------------------------------------------------


def structured_outputs(model: str) -> bool:
    """Claude generations with ``output_config.format``: Opus 4.1, 4.5 and on."""
    match = re.search(r"claude-(opus|sonnet|haiku)-(\d+)(?:-(\d{1,2}))?(?!\d)", model)
    if match is None:
        return False
    version = (int(match.group(2)), int(match.group(3) or 0))
    return version >= (4, 5) or (match.group(1) == "opus" and version >= (4, 1))


def _result_text(block: dict[str, Any]) -> str:
    content = block.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(b.get("text", "") for b in content if b.get("type") == "text")
    return ""


def plan_answer(body: dict[str, Any], turns: list[dict[str, Any]]) -> dict[str, Any]:
    """What to answer: {kind, text, stop_reason, tool?, status?, delay?}."""
    last = turns[-1] if turns[-1]["role"] == "user" else None
    blocks = last["content"] if last else []
    texts = [b["text"] for b in blocks if b.get("type") == "text"]
    results = [b for b in blocks if b.get("type") == "tool_result"]
    trigger = texts[-1].strip() if texts else ""
    plan: dict[str, Any] = {"kind": "text", "stop_reason": "end_turn", "delay": 0.0}
    fail = re.match(r"^FAIL (\d{3})$", trigger)
    if fail:
        return {"kind": "fail", "status": int(fail.group(1))}
    slow = re.match(r"^SLOW ([0-9.]+)$", trigger)
    if slow:
        plan["delay"] = float(slow.group(1))
    tools = body.get("tools") or []
    choice = (body.get("tool_choice") or {}).get("type")
    if (body.get("thinking") or {}).get("type") == "enabled":
        thought = f"The user wrote {trigger!r}." if trigger else "A tool answered."
        plan["thinking"] = thought
    fmt = (body.get("output_config") or {}).get("format")
    if results and not texts:
        plan["text"] = "The tool said: " + "".join(_result_text(b) for b in results)
    elif tools and choice != "none" and "NOCALL" not in trigger:
        # A forced choice is honoured: the named tool, else the first one.
        wanted = (body.get("tool_choice") or {}).get("name")
        tool = next((t for t in tools if t["name"] == wanted), tools[0])
        plan.update(
            kind="tool",
            text="Checking.",
            tool=tool["name"],
            input=schemas.tool_input(tool.get("input_schema")),
            stop_reason="tool_use",
        )
    elif fmt is not None and "NOCALL" not in trigger:
        plan["text"] = json.dumps(schemas.sample(fmt["schema"]))
    elif trigger == "LENGTH":
        plan.update(text="This answer was cut short by", stop_reason="max_tokens")
    elif trigger in ("BREAK", "STREAM ERROR", "STALL"):
        plan.update(kind=trigger, text=f"Hello from {VENDOR}: {trigger}")
    else:
        plan["text"] = f"Hello from {VENDOR}: {trigger}"
    _stop_at_sequence(body, plan)
    return plan


def _stop_at_sequence(body: dict[str, Any], plan: dict[str, Any]) -> None:
    """Cut a text answer before the first stop sequence in it, as the model stops."""
    text = plan.get("text")
    if plan["kind"] != "text" or not text:
        return
    found = [(text.index(s), s) for s in body.get("stop_sequences") or () if s in text]
    if found:
        at, sequence = min(found)
        plan.update(text=text[:at], stop_reason="stop_sequence", stop_sequence=sequence)


def _usage(app: web.Application, output: int, plan: dict[str, Any]) -> dict[str, Any]:
    creation, read = plan.get("cache") or (
        app[SETTINGS]["cache_creation_tokens"],
        app[SETTINGS]["cache_read_tokens"],
    )
    return {
        "input_tokens": INPUT_TOKENS,
        "cache_creation_input_tokens": creation,
        "cache_read_input_tokens": read,
        "output_tokens": output,
        "service_tier": "standard",
    }


def _message(app: web.Application, body: dict[str, Any], plan: dict[str, Any]) -> dict:
    content: list[dict[str, Any]] = [{"type": "text", "text": plan["text"]}]
    if plan.get("thinking"):
        thinking = plan["thinking"]
        block = {
            "type": "thinking",
            "thinking": thinking,
            "signature": features.signature(thinking),
        }
        content.insert(0, block)
    if plan["kind"] == "tool":
        content.append(
            {
                "type": "tool_use",
                "id": plan["tool_id"],
                "name": plan["tool"],
                "input": plan["input"],
            }
        )
    return {
        "id": plan["msg_id"],
        "type": "message",
        "role": "assistant",
        "model": body["model"],
        "content": content,
        "stop_reason": plan["stop_reason"],
        "stop_sequence": plan.get("stop_sequence"),
        "usage": _usage(app, OUTPUT_TOKENS, plan),
    }


def _split(text: str, parts: int) -> list[str]:
    size = max(1, -(-len(text) // parts))
    return [text[i : i + size] for i in range(0, len(text), size)]


async def _event(resp: web.StreamResponse, data: dict[str, Any]) -> None:
    await resp.write(f"event: {data['type']}\ndata: {json.dumps(data)}\n\n".encode())


async def _stream(
    request: web.Request, body: dict[str, Any], plan: dict[str, Any]
) -> web.StreamResponse:
    resp = web.StreamResponse(
        headers={
            "content-type": "text/event-stream; charset=utf-8",
            "cache-control": "no-cache",
            "request-id": "req_" + secrets.token_hex(12),
        }
    )
    await resp.prepare(request)

    async def emit(data: dict[str, Any]) -> None:
        await _event(resp, data)

    if await stream_events(request, emit, body, plan):
        await resp.write_eof()
    return resp


async def stream_events(
    request: web.Request,
    emit: features.Emit,
    body: dict[str, Any],
    plan: dict[str, Any],
) -> bool:
    """The answer's events through ``emit``; False when the connection was dropped."""
    message = _message(request.app, body, plan)
    usage = _usage(request.app, 1, plan)
    start = {**message, "content": [], "stop_reason": None, "usage": usage}
    await emit({"type": "message_start", "message": start})
    first = 0
    if plan.get("thinking"):
        await features.thinking_block(emit, plan["thinking"])
        first = 1
    await emit(
        {
            "type": "content_block_start",
            "index": first,
            "content_block": {"type": "text", "text": ""},
        },
    )
    await emit({"type": "ping"})
    pieces = _split(plan["text"], 2 if plan["kind"] == "tool" else 3)
    for n, piece in enumerate(pieces):
        if plan["kind"] == "BREAK" and n == 2:
            assert request.transport is not None
            request.transport.abort()  # drop the connection mid-stream
            return False
        if plan["kind"] == "STALL" and n == 1:
            try:  # silent until the caller goes away (a client disconnect)
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                request.app["events"]["cancelled_at"] = time.monotonic()
                raise
        if plan["kind"] == "STREAM ERROR" and n == 1:
            error = {"type": "overloaded_error", "message": "Overloaded"}
            await emit({"type": "error", "error": error})
            return True
        delta = {"type": "text_delta", "text": piece}
        await emit({"type": "content_block_delta", "index": first, "delta": delta})
    await emit({"type": "content_block_stop", "index": first})
    if plan["kind"] == "tool":
        block = {
            "type": "tool_use",
            "id": plan["tool_id"],
            "name": plan["tool"],
            "input": {},
        }
        tool = first + 1
        start = {"type": "content_block_start", "index": tool, "content_block": block}
        await emit(start)
        arguments = json.dumps(plan["input"])
        half = len(arguments) // 2
        for fragment in ("", arguments[:half], arguments[half:]):
            delta = {"type": "input_json_delta", "partial_json": fragment}
            await emit({"type": "content_block_delta", "index": tool, "delta": delta})
        await emit({"type": "content_block_stop", "index": tool})
    await emit(
        {
            "type": "message_delta",
            "delta": {
                "stop_reason": plan["stop_reason"],
                "stop_sequence": plan.get("stop_sequence"),
            },
            "usage": {"output_tokens": OUTPUT_TOKENS},
        },
    )
    await emit({"type": "message_stop"})
    return True


# -- routes ------------------------------------------------------------


def _check_headers(request: web.Request) -> web.Response | None:
    if not request.headers.get("anthropic-version"):
        return error_response(400, "anthropic-version: header is required")
    app = request.app
    key = request.headers.get("x-api-key")
    auth = request.headers.get("authorization", "")
    if key is not None:
        if key != app[SETTINGS]["api_key"]:
            return error_response(401, "invalid x-api-key")
    elif auth.startswith("Bearer "):
        if (
            not app[SETTINGS]["bearer_token"]
            or auth[7:] != app[SETTINGS]["bearer_token"]
        ):
            return error_response(401, "Invalid bearer token")
    else:
        return error_response(401, "x-api-key header is required")
    return None


async def _record(request: web.Request) -> Any:
    raw = await request.read()
    try:
        data = json.loads(raw) if raw else None
    except ValueError:
        data = None
    request.app["requests"].append(
        {
            "method": request.method,
            "path": request.path,
            "query": dict(request.query),
            "headers": dict(request.headers),
            "json": data,
        }
    )
    return raw


async def messages(request: web.Request) -> web.StreamResponse:
    raw = await _record(request)
    refused = _check_headers(request)
    if refused is not None:
        return refused
    if request.content_type != "application/json":
        return error_response(400, "Content-Type must be application/json")
    try:
        body = json.loads(raw)
    except ValueError:
        return error_response(
            400, "There was an error parsing the body of your request"
        )
    try:
        turns = validate_body(body)
    except Invalid as exc:
        return error_response(400, str(exc))
    plan = plan_answer(body, turns)
    if plan["kind"] == "fail":
        status = plan["status"]
        return error_response(status, ERROR_MESSAGES.get(status, "Invalid request"))
    if plan["delay"]:
        await asyncio.sleep(plan["delay"])
    if features.check_cache_control(body):
        plan["cache"] = features.cache_usage(body, request.app["cache_seen"])
    plan["msg_id"] = "msg_01" + secrets.token_hex(11)
    plan["tool_id"] = "toolu_01" + secrets.token_hex(11)
    if body.get("stream"):
        return await _stream(request, body, plan)
    return web.json_response(
        _message(request.app, body, plan),
        headers={"request-id": "req_" + secrets.token_hex(12)},
    )


# The fields ``/v1/messages/count_tokens`` takes (no max_tokens, no sampling).
COUNT_FIELDS = frozenset(
    {
        "model",
        "messages",
        "system",
        "tools",
        "tool_choice",
        "thinking",
        "mcp_servers",
        "context_management",
        "output_config",
        "cache_control",
    }
)


def count_of(body: dict[str, Any]) -> int:
    """This fake's token count: 3 + one token per character of the JSON of the
    system prompt, messages and tools (never what the gateway would estimate)."""
    parts = [body.get("system"), body["messages"], body.get("tools")]
    return 3 + len(json.dumps(parts))


async def count_tokens(request: web.Request) -> web.Response:
    raw = await _record(request)
    refused = _check_headers(request)
    if refused is not None:
        return refused
    try:
        body = json.loads(raw)
        if not isinstance(body, dict):
            raise Invalid("Input should be a valid dictionary")
        for key in body:
            if key not in COUNT_FIELDS:
                raise Invalid(f"{key}: Extra inputs are not permitted")
        # A count has no max_tokens: thinking's budget is not checked against it.
        thinking = body.get("thinking")
        budget = thinking.get("budget_tokens") if isinstance(thinking, dict) else None
        ceiling = budget + 1 if isinstance(budget, int) else 1
        validate_body({**body, "max_tokens": ceiling})
    except ValueError:
        return error_response(
            400, "There was an error parsing the body of your request"
        )
    except Invalid as exc:
        return error_response(400, str(exc))
    return web.json_response({"input_tokens": count_of(body)})


async def models(request: web.Request) -> web.Response:
    await _record(request)
    refused = _check_headers(request)
    if refused is not None:
        return refused
    try:
        limit = int(request.query.get("limit", "20"))
    except ValueError:
        return error_response(400, "limit: Input should be a valid integer")
    if not 1 <= limit <= 1000:
        return error_response(400, "limit: Input should be between 1 and 1000")
    limit = min(limit, request.app[SETTINGS]["max_page_size"])
    items: list[dict[str, Any]] = request.app[SETTINGS]["models"]
    ids = [m["id"] for m in items]
    start = 0
    if request.query.get("after_id"):
        if request.query["after_id"] not in ids:
            return error_response(400, "after_id: unknown model id")
        start = ids.index(request.query["after_id"]) + 1
    page = items[start : start + limit]
    return web.json_response(
        {
            "data": page,
            "has_more": start + limit < len(items),
            "first_id": page[0]["id"] if page else None,
            "last_id": page[-1]["id"] if page else None,
        }
    )


async def model(request: web.Request) -> web.Response:
    await _record(request)
    refused = _check_headers(request)
    if refused is not None:
        return refused
    for item in request.app[SETTINGS]["models"]:
        if item["id"] == request.match_info["model_id"]:
            return web.json_response(item)
    return error_response(404, f"model: {request.match_info['model_id']}")


def make_app(
    *,
    api_key: str = "sk-ant-test-key",
    bearer_token: str | None = None,
    models_list: list[dict[str, Any]] | None = None,
    max_page_size: int = 1000,
    cache_read_tokens: int = 0,
    cache_creation_tokens: int = 0,
) -> web.Application:
    app = web.Application()
    with warnings.catch_warnings():  # the shared convention is a plain string key
        warnings.simplefilter("ignore", web.NotAppKeyWarning)
        app["requests"] = []
        app["cache_seen"] = set()
        app["events"] = {}
    app[SETTINGS] = {
        "api_key": api_key,
        "bearer_token": bearer_token,
        "models": list(DEFAULT_MODELS if models_list is None else models_list),
        "max_page_size": max_page_size,
        "cache_read_tokens": cache_read_tokens,
        "cache_creation_tokens": cache_creation_tokens,
    }
    app.router.add_post("/v1/messages", messages)
    app.router.add_post("/v1/messages/count_tokens", count_tokens)
    app.router.add_get("/v1/models", models)
    app.router.add_get("/v1/models/{model_id}", model)
    return app
