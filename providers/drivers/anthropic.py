"""Anthropic Messages API driver (PROTOCOLS.md section 5).

Pure translation functions (canonical OpenAI Chat Completions dicts in, Anthropic
dicts out and back) and a thin ``AnthropicDriver`` I/O layer around them.

Policies this module applies (PROTOCOLS.md 2.1-2.4):

- ``system``/``developer`` messages become top-level ``system`` text blocks, in order.
- Empty and whitespace-only text blocks are dropped (Anthropic rejects them); a
  message left without blocks is dropped.
- Consecutive same-role turns are merged; in a user turn ``tool_result`` blocks are
  moved first (Anthropic requires them right after the ``tool_use`` turn).
- The first turn must be ``user``: when the conversation starts with an assistant
  turn (or has no turn at all) a minimal user turn ``"."`` is prepended.
- A final assistant turn (prefill) has its trailing whitespace removed.
- ``temperature`` is clamped to Anthropic's maximum of 1.0; when both
  ``temperature`` and ``top_p`` are given only ``temperature`` is sent (recent
  Claude models reject both).
- Tool-call ids are sanitised to ``[a-zA-Z0-9_-]`` (same function for
  ``tool_calls[].id`` and ``tool_call_id``, so pairs still match).
- History with ``tool_use``/``tool_result`` blocks but no ``tools``: a no-op
  placeholder tool is declared and ``tool_choice`` is ``none`` (Anthropic rejects
  tool blocks without tool definitions; the model cannot call the placeholder).
- ``response_format`` ``json_schema`` → ``output_config.format``; ``json_object``
  has no native switch, so an instruction is appended to ``system``.
- Shape-changing parameters Anthropic cannot honour (``n>1``, ``logprobs``,
  ``top_logprobs``, audio output, legacy ``functions``, non-function tools) → 400.
  Sampling-only or OpenAI-only ones (``seed``, penalties, ``logit_bias``,
  ``reasoning_effort``, ``service_tier``, ``store``, ``metadata``…) are dropped.
- Streaming ``ping`` events yield nothing (the gateway owns keep-alives).
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import string
from collections.abc import AsyncIterator, Mapping
from typing import Any
from urllib.parse import urlencode

from providers.drivers.base import (
    Driver,
    DriverConfig,
    DriverError,
    ModelInfo,
    UpstreamRequest,
    error_from_status,
    error_message_from_body,
    invalid_request,
    iter_sse,
    new_completion_id,
    now,
    stream_error,
)

log = logging.getLogger(__name__)

VENDOR = "anthropic"
DEFAULT_BASE_URL = "https://api.anthropic.com"
ANTHROPIC_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 4096
MAX_TEMPERATURE = 1.0
PLACEHOLDER_USER_TEXT = "."
MODELS_PAGE_LIMIT = 1000
MAX_MODEL_PAGES = 100
JSON_OBJECT_INSTRUCTION = (
    "Respond only with a single valid JSON object, without any other text."
)
NOOP_TOOL: dict[str, Any] = {
    "name": "noop",
    "description": (
        "Placeholder declared because the conversation contains tool calls; "
        "it does nothing and must not be called."
    ),
    "input_schema": {"type": "object", "properties": {}},
}

DATA_URL_RE = re.compile(r"^data:([a-z]+/[a-z0-9.+-]+);base64,(.+)$", re.DOTALL)
IMAGE_MEDIA_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
_TOOL_ID_UNSAFE = re.compile(r"[^a-zA-Z0-9_-]")
_ALNUM = string.ascii_letters + string.digits

STOP_REASONS: dict[str, str] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}

# HTTP status Anthropic uses for each error type (in-stream errors carry no status).
ERROR_TYPE_STATUS: dict[str, int] = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}


# -- URLs and headers ------------------------------------------------------------


def base_url(cfg: DriverConfig) -> str:
    """The API root without a trailing ``/`` or ``/v1`` (both are common typos)."""
    url = (cfg.base_url or DEFAULT_BASE_URL).rstrip("/")
    if url.endswith("/v1"):
        url = url[:-3]
    return url


def messages_url(cfg: DriverConfig) -> str:
    return f"{base_url(cfg)}/v1/messages"


def models_url(cfg: DriverConfig, limit: int, after_id: str | None = None) -> str:
    query: dict[str, Any] = {"limit": limit}
    if after_id:
        query["after_id"] = after_id
    return f"{base_url(cfg)}/v1/models?{urlencode(query)}"


def request_headers(
    cfg: DriverConfig, auth: Mapping[str, str], *, json_body: bool = True
) -> dict[str, str]:
    headers = dict(auth)
    headers["anthropic-version"] = ANTHROPIC_VERSION
    if json_body:
        headers["content-type"] = "application/json"
    beta = cfg.config.get("anthropic_beta")
    if isinstance(beta, list | tuple):
        beta = ",".join(str(b).strip() for b in beta if str(b).strip())
    if beta:
        headers["anthropic-beta"] = str(beta)
    return headers


# -- request translation ------------------------------------------------------------


def sanitize_tool_id(value: Any) -> str:
    """Deterministic ``[a-zA-Z0-9_-]`` form of a tool-call id."""
    cleaned = _TOOL_ID_UNSAFE.sub("_", str(value or ""))
    return cleaned or "call_"


def synth_tool_id() -> str:
    return "call_" + "".join(secrets.choice(_ALNUM) for _ in range(24))


def _text_block(
    text: Any, part: Mapping[str, Any] | None = None
) -> dict[str, Any] | None:
    if not isinstance(text, str) or not text.strip():
        return None
    block: dict[str, Any] = {"type": "text", "text": text}
    if part is not None and isinstance(part.get("cache_control"), dict):
        block["cache_control"] = dict(part["cache_control"])
    return block


def _text_blocks(content: Any, where: str, allowed: tuple[str, ...]) -> list[dict]:
    """Text blocks from string-or-parts content where only text-like parts fit."""
    if content is None:
        return []
    if isinstance(content, str):
        block = _text_block(content)
        return [block] if block else []
    if not isinstance(content, list):
        raise invalid_request("Content must be a string or an array of parts.", where)
    blocks: list[dict] = []
    for j, part in enumerate(content):
        if not isinstance(part, dict) or part.get("type") not in allowed:
            raise invalid_request(
                f"Only {' / '.join(allowed)} parts are supported here.",
                f"{where}[{j}]",
            )
        text = part.get("text") if part.get("type") == "text" else part.get("refusal")
        block = _text_block(text, part)
        if block:
            blocks.append(block)
    return blocks


def _image_block(part: Mapping[str, Any], where: str) -> dict[str, Any]:
    image = part.get("image_url")
    url = image.get("url") if isinstance(image, dict) else image
    if not isinstance(url, str) or not url:
        raise invalid_request("image_url.url is required.", f"{where}.image_url.url")
    if url.startswith("data:"):
        match = DATA_URL_RE.match(url)
        media_type = match.group(1) if match else ""
        if media_type == "image/jpg":
            media_type = "image/jpeg"
        if not match or media_type not in IMAGE_MEDIA_TYPES:
            raise invalid_request(
                "Images must be base64 data URLs of type image/jpeg, image/png, "
                "image/gif or image/webp, or https URLs.",
                f"{where}.image_url.url",
            )
        source = {"type": "base64", "media_type": media_type, "data": match.group(2)}
        return {"type": "image", "source": source}
    if url.startswith(("https://", "http://")):
        return {"type": "image", "source": {"type": "url", "url": url}}
    raise invalid_request(
        "Unsupported image URL scheme.", f"{where}.image_url.url", "invalid_value"
    )


def _file_block(part: Mapping[str, Any], where: str) -> dict[str, Any]:
    file = part.get("file") if isinstance(part.get("file"), dict) else {}
    match = DATA_URL_RE.match(str(file.get("file_data") or ""))
    if not match or match.group(1) != "application/pdf":
        raise invalid_request(
            "Only PDF files sent inline as file_data data URLs are supported.",
            f"{where}.file",
        )
    source = {"type": "base64", "media_type": "application/pdf", "data": match.group(2)}
    return {"type": "document", "source": source}


def _user_blocks(content: Any, where: str) -> list[dict]:
    if content is None or isinstance(content, str):
        return _text_blocks(content, where, ("text",))
    if not isinstance(content, list):
        raise invalid_request("Content must be a string or an array of parts.", where)
    blocks: list[dict] = []
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        part_where = f"{where}[{j}]"
        if kind == "text":
            block = _text_block(part.get("text"), part)
            if block:
                blocks.append(block)
        elif kind == "image_url":
            blocks.append(_image_block(part, part_where))
        elif kind == "file":
            blocks.append(_file_block(part, part_where))
        else:
            raise invalid_request(
                f"Content part type {kind!r} is not supported by anthropic providers.",
                f"{part_where}.type",
            )
    return blocks


def _tool_use_blocks(tool_calls: Any, i: int) -> list[dict]:
    if tool_calls is None:
        return []
    if not isinstance(tool_calls, list):
        raise invalid_request(
            "tool_calls must be an array.", f"messages[{i}].tool_calls"
        )
    blocks = []
    for j, call in enumerate(tool_calls):
        where = f"messages[{i}].tool_calls[{j}]"
        if not isinstance(call, dict) or call.get("type", "function") != "function":
            raise invalid_request("Only function tool calls are supported.", where)
        function = call.get("function")
        if not isinstance(function, dict) or not function.get("name"):
            raise invalid_request(
                "function.name is required.", f"{where}.function.name"
            )
        arguments = function.get("arguments")
        if arguments is None or (isinstance(arguments, str) and not arguments.strip()):
            parsed: Any = {}
        elif isinstance(arguments, str):
            try:
                parsed = json.loads(arguments)
            except ValueError:
                raise invalid_request(
                    "function.arguments is not valid JSON.",
                    f"{where}.function.arguments",
                ) from None
        else:
            parsed = arguments
        if not isinstance(parsed, dict):
            raise invalid_request(
                "function.arguments must be a JSON object.",
                f"{where}.function.arguments",
            )
        blocks.append(
            {
                "type": "tool_use",
                "id": sanitize_tool_id(call.get("id")),
                "name": str(function["name"]),
                "input": parsed,
            }
        )
    return blocks


def _tool_result_block(message: Mapping[str, Any], i: int) -> dict[str, Any]:
    call_id = message.get("tool_call_id")
    if not call_id:
        raise invalid_request(
            "tool_call_id is required.",
            f"messages[{i}].tool_call_id",
            "missing_required_parameter",
        )
    block: dict[str, Any] = {
        "type": "tool_result",
        "tool_use_id": sanitize_tool_id(call_id),
    }
    content = message.get("content")
    if isinstance(content, str):
        if content.strip():
            block["content"] = content
    else:
        parts = _text_blocks(content, f"messages[{i}].content", ("text",))
        if parts:
            block["content"] = parts
    return block


def translate_messages(
    messages: Any,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Canonical messages → (Anthropic ``system`` blocks, Anthropic ``messages``)."""
    if not isinstance(messages, list):
        raise invalid_request("messages must be an array.", "messages")
    system: list[dict[str, Any]] = []
    turns: list[dict[str, Any]] = []
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise invalid_request("Each message must be an object.", f"messages[{i}]")
        role = message.get("role")
        where = f"messages[{i}].content"
        if role in ("system", "developer"):
            system.extend(_text_blocks(message.get("content"), where, ("text",)))
            continue
        if role == "user":
            blocks = _user_blocks(message.get("content"), where)
        elif role == "assistant":
            blocks = _text_blocks(message.get("content"), where, ("text", "refusal"))
            blocks += _tool_use_blocks(message.get("tool_calls"), i)
        elif role == "tool":
            blocks, role = [_tool_result_block(message, i)], "user"
        else:
            raise invalid_request(
                f"Message role {role!r} is not supported.", f"messages[{i}].role"
            )
        if not blocks:
            continue
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    for turn in turns:  # tool results must open the user turn that carries them
        if turn["role"] == "user":
            turn["content"].sort(key=lambda b: b["type"] != "tool_result")
    if turns and turns[-1]["role"] == "assistant":
        _rstrip_prefill(turns)
    if not turns or turns[0]["role"] != "user":
        placeholder = {"type": "text", "text": PLACEHOLDER_USER_TEXT}
        turns.insert(0, {"role": "user", "content": [placeholder]})
    return system, turns


def _rstrip_prefill(turns: list[dict[str, Any]]) -> None:
    blocks = turns[-1]["content"]
    if blocks and blocks[-1]["type"] == "text":
        text = blocks[-1]["text"].rstrip()
        if text:
            blocks[-1] = {**blocks[-1], "text": text}
        else:
            blocks.pop()
    if not blocks:
        turns.pop()


def has_tool_blocks(turns: list[dict[str, Any]]) -> bool:
    return any(
        block.get("type") in ("tool_use", "tool_result")
        for turn in turns
        for block in turn["content"]
    )


def translate_tools(tools: Any) -> list[dict[str, Any]]:
    if not isinstance(tools, list):
        raise invalid_request("tools must be an array.", "tools")
    out = []
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict) or tool.get("type", "function") != "function":
            raise invalid_request(
                "Only function tools are supported by anthropic providers.",
                f"tools[{i}].type",
            )
        function = tool.get("function")
        if not isinstance(function, dict) or not function.get("name"):
            raise invalid_request(
                "function.name is required.",
                f"tools[{i}].function.name",
                "missing_required_parameter",
            )
        schema = function.get("parameters")
        if schema is None:
            schema = {"type": "object", "properties": {}}
        if not isinstance(schema, dict):
            raise invalid_request(
                "function.parameters must be a JSON Schema object.",
                f"tools[{i}].function.parameters",
            )
        if "type" not in schema:
            schema = {"type": "object", **schema}
        entry: dict[str, Any] = {"name": str(function["name"])}
        if function.get("description"):
            entry["description"] = str(function["description"])
        entry["input_schema"] = schema
        out.append(entry)
    return out


def translate_tool_choice(
    tool_choice: Any, parallel_tool_calls: Any, tools: list[dict[str, Any]]
) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """(Anthropic ``tool_choice`` or None, tools possibly narrowed by allowed_tools)."""
    choice: dict[str, Any] | None
    if tool_choice is None:
        choice = None
    elif tool_choice == "auto":
        choice = {"type": "auto"}
    elif tool_choice == "none":
        choice = {"type": "none"}
    elif tool_choice == "required":
        choice = {"type": "any"}
    elif isinstance(tool_choice, dict) and tool_choice.get("type") == "function":
        function = tool_choice.get("function")
        name = function.get("name") if isinstance(function, dict) else None
        if not name:
            raise invalid_request(
                "tool_choice.function.name is required.", "tool_choice.function.name"
            )
        choice = {"type": "tool", "name": str(name)}
    elif isinstance(tool_choice, dict) and tool_choice.get("type") == "allowed_tools":
        choice, tools = _allowed_tools(tool_choice, tools)
    else:
        raise invalid_request(
            "tool_choice must be none, auto, required or a function.", "tool_choice"
        )
    if parallel_tool_calls is False and (choice is None or choice["type"] != "none"):
        choice = {**(choice or {"type": "auto"}), "disable_parallel_tool_use": True}
    return choice, tools


def _allowed_tools(
    tool_choice: Mapping[str, Any], tools: list[dict[str, Any]]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    spec = tool_choice.get("allowed_tools")
    spec = spec if isinstance(spec, dict) else {}
    names = {
        str(t["function"]["name"])
        for t in spec.get("tools") or []
        if isinstance(t, dict) and isinstance(t.get("function"), dict)
        if t["function"].get("name")
    }
    mode = spec.get("mode", "auto")
    if mode not in ("auto", "required") or not names:
        raise invalid_request(
            "allowed_tools needs mode auto or required and at least one function.",
            "tool_choice.allowed_tools",
        )
    narrowed = [tool for tool in tools if tool["name"] in names]
    if not narrowed:
        raise invalid_request(
            "allowed_tools names none of the request's tools.",
            "tool_choice.allowed_tools",
        )
    return {"type": "any" if mode == "required" else "auto"}, narrowed


def _int_param(request: Mapping[str, Any], name: str) -> int | None:
    value = request.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise invalid_request(f"{name} must be a positive integer.", name)
    return value


def _number_param(request: Mapping[str, Any], name: str) -> float | None:
    value = request.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise invalid_request(f"{name} must be a number.", name)
    return value


def _reject_unsupported(request: Mapping[str, Any]) -> None:
    n = request.get("n")
    if n is not None and n != 1:
        raise invalid_request("anthropic providers support only n=1.", "n")
    if request.get("logprobs"):
        raise invalid_request("anthropic providers do not return logprobs.", "logprobs")
    if request.get("top_logprobs"):
        raise invalid_request(
            "anthropic providers do not return logprobs.", "top_logprobs"
        )
    if "audio" in (request.get("modalities") or []) or request.get("audio"):
        raise invalid_request("anthropic providers do not produce audio.", "modalities")
    if request.get("functions") or request.get("function_call"):
        raise invalid_request(
            "Legacy functions are not supported; use tools.", "functions"
        )


def _metadata_user_id(request: Mapping[str, Any]) -> str | None:
    for key in ("user", "safety_identifier"):
        value = request.get(key)
        if isinstance(value, str) and value and "@" not in value and len(value) <= 256:
            return value
    return None


def default_max_tokens(cfg: DriverConfig) -> int:
    value = cfg.config.get("default_max_tokens", DEFAULT_MAX_TOKENS)
    try:
        return max(1, int(value))
    except (TypeError, ValueError):
        return DEFAULT_MAX_TOKENS


def build_messages_body(
    cfg: DriverConfig, request: Mapping[str, Any], model_id: str, stream: bool
) -> dict[str, Any]:
    """The Anthropic ``/v1/messages`` body for a canonical chat request."""
    _reject_unsupported(request)
    system, messages = translate_messages(request.get("messages"))
    max_tokens = _int_param(request, "max_completion_tokens") or _int_param(
        request, "max_tokens"
    )
    if max_tokens is None:
        max_tokens = default_max_tokens(cfg)
    body: dict[str, Any] = {"model": model_id, "max_tokens": max_tokens}

    response_format = request.get("response_format")
    if response_format is not None:
        output_format = _output_format(response_format)
        if output_format == "json_object":
            system.append({"type": "text", "text": JSON_OBJECT_INSTRUCTION})
        elif output_format is not None:
            body["output_config"] = {"format": output_format}
    if system:
        body["system"] = system
    body["messages"] = messages

    temperature = _number_param(request, "temperature")
    top_p = _number_param(request, "top_p")
    if temperature is not None:
        body["temperature"] = min(float(temperature), MAX_TEMPERATURE)
    elif top_p is not None:
        body["top_p"] = top_p

    stop = request.get("stop")
    if isinstance(stop, str):
        stop = [stop]
    if isinstance(stop, list):
        sequences = [s for s in stop if isinstance(s, str) and s.strip()]
        if sequences:
            body["stop_sequences"] = sequences
    elif stop is not None:
        raise invalid_request("stop must be a string or an array of strings.", "stop")

    tools = translate_tools(request["tools"]) if request.get("tools") else []
    choice = None
    if tools:
        choice, tools = translate_tool_choice(
            request.get("tool_choice"), request.get("parallel_tool_calls"), tools
        )
    if not tools and has_tool_blocks(messages):
        tools, choice = [dict(NOOP_TOOL)], {"type": "none"}
    if tools:
        body["tools"] = tools
    if choice is not None:
        body["tool_choice"] = choice

    user_id = _metadata_user_id(request)
    if user_id:
        body["metadata"] = {"user_id": user_id}
    if stream:
        body["stream"] = True
    return body


def _output_format(response_format: Any) -> dict[str, Any] | str | None:
    kind = response_format.get("type") if isinstance(response_format, dict) else None
    if kind == "text":
        return None
    if kind == "json_object":
        return "json_object"
    if kind == "json_schema":
        spec = response_format.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, dict) else None
        if not isinstance(schema, dict):
            raise invalid_request(
                "response_format.json_schema.schema must be a JSON Schema object.",
                "response_format.json_schema.schema",
            )
        return {"type": "json_schema", "schema": schema}
    raise invalid_request(
        "response_format type must be text, json_object or json_schema.",
        "response_format.type",
    )


def build_chat_request(
    cfg: DriverConfig,
    request: Mapping[str, Any],
    model_id: str,
    stream: bool,
    auth: Mapping[str, str],
) -> UpstreamRequest:
    body = build_messages_body(cfg, request, model_id, stream)
    headers = request_headers(cfg, auth)
    if stream:
        headers["accept"] = "text/event-stream"
    return UpstreamRequest("POST", messages_url(cfg), headers, json=body)


# -- response translation ------------------------------------------------------------


def map_stop_reason(reason: Any) -> str:
    if reason is None:
        return "stop"
    mapped = STOP_REASONS.get(str(reason))
    if mapped is None:
        log.warning("anthropic: unknown stop_reason %r mapped to stop", reason)
        return "stop"
    return mapped


def _count(usage: Mapping[str, Any], key: str) -> int:
    value = usage.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def map_usage(usage: Mapping[str, Any] | None) -> dict[str, Any]:
    """Anthropic ``usage`` → canonical (``input_tokens`` excludes cache tokens)."""
    usage = usage or {}
    cache_read = _count(usage, "cache_read_input_tokens")
    cache_write = _count(usage, "cache_creation_input_tokens")
    prompt = _count(usage, "input_tokens") + cache_read + cache_write
    completion = _count(usage, "output_tokens")
    details: dict[str, int] = {"cached_tokens": cache_read}
    if cache_write:
        details["cache_creation_tokens"] = cache_write
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": details,
    }


def _tool_call(block: Mapping[str, Any]) -> dict[str, Any]:
    arguments = block.get("input")
    return {
        "id": str(block.get("id") or synth_tool_id()),
        "type": "function",
        "function": {
            "name": str(block.get("name") or ""),
            "arguments": json.dumps(
                arguments if arguments is not None else {}, ensure_ascii=False
            ),
        },
    }


def parse_message(data: Any, model_id: str = "") -> dict[str, Any]:
    """An Anthropic ``Message`` → canonical ``chat.completion``."""
    if not isinstance(data, dict) or not isinstance(data.get("content"), list):
        raise DriverError("anthropic returned an unexpected response shape", status=502)
    texts: list[str] = []
    thinking: list[str] = []
    tool_calls: list[dict[str, Any]] = []
    for block in data["content"]:
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "text" and isinstance(block.get("text"), str):
            texts.append(block["text"])
        elif kind == "tool_use":
            tool_calls.append(_tool_call(block))
        elif kind == "thinking" and isinstance(block.get("thinking"), str):
            thinking.append(block["thinking"])
    message: dict[str, Any] = {
        "role": "assistant",
        "content": "".join(texts) if texts or not tool_calls else None,
    }
    if tool_calls:
        message["tool_calls"] = tool_calls
    if thinking:
        message["reasoning_content"] = "".join(thinking)
    msg_id = data.get("id")
    return {
        "id": f"chatcmpl-{msg_id}" if msg_id else new_completion_id(),
        "object": "chat.completion",
        "created": now(),
        "model": data.get("model") or model_id,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": map_stop_reason(data.get("stop_reason")),
                "logprobs": None,
            }
        ],
        "usage": map_usage(data.get("usage")),
    }


def _chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
    return {"choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}]}


class StreamTranslator:
    """Anthropic SSE events → canonical chunks (pure; one instance per stream).

    ``feed(event, payload)`` returns the chunks for one event and raises the mapped
    ``DriverError`` for an ``error`` event. The finish chunk and the usage chunk
    are emitted at ``message_stop`` (or by ``finish()`` if the stream ended after
    ``message_delta`` without it).
    """

    def __init__(self) -> None:
        self.started = False
        self.done = False
        self.stop_reason: str | None = None
        self.saw_message_delta = False
        self.usage: dict[str, int] = {}
        self._tool_index: dict[int, int] = {}  # content block index → tool-call index

    def _start(self) -> list[dict[str, Any]]:
        if self.started:
            return []
        self.started = True
        return [_chunk({"role": "assistant", "content": ""})]

    def _update_usage(self, usage: Any) -> None:
        if not isinstance(usage, dict):
            return
        for key, value in usage.items():
            if isinstance(value, int) and not isinstance(value, bool):
                self.usage[key] = value

    def feed(self, event: str, payload: Any) -> list[dict[str, Any]]:
        if self.done or not isinstance(payload, dict):
            return []
        kind = payload.get("type") or event
        if kind == "error":
            raise error_from_event(payload)
        handler = getattr(self, f"_on_{kind}", None)
        return handler(payload) if handler is not None else []  # ping, unknown

    def _on_message_start(self, payload: dict[str, Any]) -> list[dict[str, Any]]:
        message = payload.get("message")
        if isinstance(message, dict):
            self._update_usage(message.get("usage"))
        return self._start()

    def _on_content_block_start(self, payload: dict[str, Any]) -> list[dict[str, Any]]:
        out = self._start()
        block = payload.get("content_block")
        block = block if isinstance(block, dict) else {}
        kind = block.get("type")
        if kind == "text" and block.get("text"):
            out.append(_chunk({"content": str(block["text"])}))
        elif kind == "thinking" and block.get("thinking"):
            out.append(_chunk({"reasoning_content": str(block["thinking"])}))
        elif kind == "tool_use":
            k = len(self._tool_index)
            self._tool_index[_int(payload.get("index"))] = k
            start = {
                "index": k,
                "id": str(block.get("id") or synth_tool_id()),
                "type": "function",
                "function": {"name": str(block.get("name") or ""), "arguments": ""},
            }
            out.append(_chunk({"tool_calls": [start]}))
            if block.get("input"):  # complete input announced up front (rare)
                args = json.dumps(block["input"], ensure_ascii=False)
                out.append(_chunk({"tool_calls": [_args(k, args)]}))
        return out

    def _on_content_block_delta(self, payload: dict[str, Any]) -> list[dict[str, Any]]:
        out = self._start()
        delta = payload.get("delta")
        delta = delta if isinstance(delta, dict) else {}
        kind = delta.get("type")
        if kind == "text_delta" and delta.get("text"):
            out.append(_chunk({"content": str(delta["text"])}))
        elif kind == "input_json_delta" and delta.get("partial_json"):
            k = self._tool_index.get(_int(payload.get("index")))
            if k is not None:
                args = str(delta["partial_json"])
                out.append(_chunk({"tool_calls": [_args(k, args)]}))
        elif kind == "thinking_delta" and delta.get("thinking"):
            out.append(_chunk({"reasoning_content": str(delta["thinking"])}))
        # signature_delta / citations_delta: nothing to forward
        return out

    def _on_message_delta(self, payload: dict[str, Any]) -> list[dict[str, Any]]:
        self.saw_message_delta = True
        delta = payload.get("delta")
        if isinstance(delta, dict) and delta.get("stop_reason"):
            self.stop_reason = str(delta["stop_reason"])
        self._update_usage(payload.get("usage"))
        return []

    def _on_message_stop(self, payload: dict[str, Any]) -> list[dict[str, Any]]:
        return self._close()

    def _close(self) -> list[dict[str, Any]]:
        out = self._start()
        self.done = True
        out.append(_chunk({}, map_stop_reason(self.stop_reason)))
        if self.usage:
            out.append({"choices": [], "usage": map_usage(self.usage)})
        return out

    def finish(self) -> list[dict[str, Any]]:
        """Chunks still owed when the upstream body ended."""
        if self.done or not self.saw_message_delta:
            return []
        return self._close()

    @property
    def complete(self) -> bool:
        """Whether the upstream stream reached its end (``message_delta`` at least)."""
        return self.done or self.saw_message_delta


def _int(value: Any) -> int:
    return value if isinstance(value, int) else -1


def _args(k: int, arguments: str) -> dict[str, Any]:
    return {"index": k, "function": {"arguments": arguments}}


# -- models and errors ------------------------------------------------------------


def parse_models(data: Any) -> tuple[list[ModelInfo], str | None]:
    """One ``/v1/models`` page → (models, ``after_id`` for the next page or None)."""
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise DriverError("anthropic returned an unexpected models list", status=502)
    models = []
    for item in data["data"]:
        if not isinstance(item, dict) or not item.get("id"):
            continue
        window = item.get("max_input_tokens")
        models.append(
            ModelInfo(
                model_id=str(item["id"]),
                name=str(item.get("display_name") or item["id"]),
                model_type="inference",
                context_window=window if isinstance(window, int) else None,
            )
        )
    after = data.get("last_id") if data.get("has_more") else None
    return models, str(after) if after else None


def _error_parts(body: Any) -> tuple[str, str, dict[str, Any]]:
    """(error type, message, details) from an Anthropic error body or event."""
    data = body
    if isinstance(body, bytes | str):
        try:
            data = json.loads(body)
        except ValueError:
            return "", error_message_from_body(body), {}
    err = data.get("error") if isinstance(data, dict) else None
    if not isinstance(err, dict):
        text = body if isinstance(body, bytes | str) else json.dumps(body)
        return "", error_message_from_body(text), {}
    details = err.get("details") if isinstance(err.get("details"), dict) else {}
    return str(err.get("type") or ""), str(err.get("message") or ""), details


def error_from_anthropic(
    status: int | None, body: Any, headers: Mapping[str, str] | None = None
) -> DriverError:
    """An Anthropic error (HTTP answer, or in-stream event when ``status`` is None)."""
    err_type, message, details = _error_parts(body)
    if status is None:
        status = ERROR_TYPE_STATUS.get(err_type, 500)
    if err_type == "overloaded_error":
        status = 529
    if err_type == "billing_error" or status == 402:
        return DriverError(
            f"{VENDOR} billing problem on the provider's account: {message}",
            status=502,
            code="upstream_error",
            should_retry=False,
        )
    error = error_from_status(status, message, headers or {}, VENDOR)
    if details.get("error_code") == "enforced_spend_limit_reached":
        error.transient = False
        error.should_retry = False
    return error


def error_from_event(payload: Any) -> DriverError:
    return error_from_anthropic(None, payload)


# -- I/O ------------------------------------------------------------


class AnthropicDriver(Driver):
    vendor = VENDOR

    async def chat(self, request: dict[str, Any], model_id: str) -> dict[str, Any]:
        req = build_chat_request(
            self.config, request, model_id, False, await self.auth()
        )
        response = await self.send(req)
        try:
            data = response.json()
        except ValueError:
            raise DriverError(f"{VENDOR} returned invalid JSON", status=502) from None
        return parse_message(data, model_id)

    async def chat_stream(
        self, request: dict[str, Any], model_id: str
    ) -> AsyncIterator[dict[str, Any]]:
        req = build_chat_request(
            self.config, request, model_id, True, await self.auth()
        )
        response = await self.open_stream(req)
        translator = StreamTranslator()
        try:
            try:
                async for event, data in iter_sse(response):
                    try:
                        payload = json.loads(data)
                    except ValueError:
                        raise DriverError(
                            f"{VENDOR} sent a malformed stream event", status=502
                        ) from None
                    for chunk in translator.feed(event, payload):
                        yield chunk
                    if translator.done:
                        break
            except DriverError:
                raise
            except Exception as exc:  # broken connection, transport errors
                raise stream_error(exc, VENDOR) from None
            if not translator.complete:
                raise DriverError(
                    f"{VENDOR} stream ended before the message was complete",
                    status=502,
                    transient=True,
                )
            for chunk in translator.finish():
                yield chunk
        finally:
            await response.aclose()

    async def _get_json(self, url: str) -> Any:
        headers = request_headers(self.config, await self.auth(), json_body=False)
        response = await self.send(UpstreamRequest("GET", url, headers))
        try:
            return response.json()
        except ValueError:
            raise DriverError(f"{VENDOR} returned invalid JSON", status=502) from None

    async def list_models(self) -> list[ModelInfo]:
        models: list[ModelInfo] = []
        after: str | None = None
        for _ in range(MAX_MODEL_PAGES):
            page, after = parse_models(
                await self._get_json(models_url(self.config, MODELS_PAGE_LIMIT, after))
            )
            models.extend(page)
            if not after:
                break
        return models

    async def health_check(self) -> None:
        parse_models(await self._get_json(models_url(self.config, 1)))

    def error_from_response(
        self, status: int, body: bytes, headers: Mapping[str, str]
    ) -> DriverError:
        error = error_from_anthropic(status, body, headers)
        log.info(
            "anthropic answered HTTP %s (%s), request-id=%s",
            status,
            error.code,
            headers.get("request-id", "-"),
        )
        return error
