"""Google Gemini Developer API driver (generateContent, PROTOCOLS.md section 8).

Pure translation functions (no I/O) plus ``GeminiDriver``, the thin I/O layer.

Choices worth knowing:

- Auth comes from ``Driver.auth()`` (catalog default: ``x-goog-api-key``); the key
  never goes into the URL.
- Tool schemas are sent as ``parameters`` (Gemini's OpenAPI subset): unknown keys
  are dropped by an allow-list, ``$ref`` is inlined from ``$defs``/``definitions``,
  ``type: [T, "null"]`` becomes ``nullable``, ``const`` becomes ``enum``, ``oneOf``
  becomes ``anyOf``. ``response_format`` schemas go unchanged to
  ``responseJsonSchema`` (full JSON Schema).
- Thought signatures (8.6) ride inside the tool-call id: ``<id>__ts__<signature as
  base64url>``. When the id comes back in the history the signature is re-attached
  to its ``functionCall`` part. For ``gemini-3*`` models a model turn whose calls
  have no signature (history from another vendor) gets Google's documented dummy
  ``skip_thought_signature_validator`` (config ``thought_signature_fallback``).
- ``https`` image URLs are fetched by the driver (size cap ``max_image_bytes``,
  default 10 MiB, through the guarded client) and inlined; a failed fetch is 400.
- Provider config keys: ``safety_settings`` (list, passed through),
  ``include_thoughts`` (bool), ``thought_signature_fallback`` (bool),
  ``max_image_bytes`` (int), ``embed_batch_size`` (int, default 100),
  ``embedding_task_type`` (str).
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import secrets
import string
import struct
from collections.abc import AsyncIterator, Mapping
from typing import Any
from urllib.parse import quote

import httpx

from providers.catalog import TYPES
from providers.drivers.base import (
    Driver,
    DriverConfig,
    DriverError,
    ModelInfo,
    UpstreamRequest,
    error_from_status,
    invalid_request,
    new_completion_id,
    now,
    parse_retry_after,
    stream_error,
)

VENDOR = "gemini"
DEFAULT_BASE = TYPES["gemini"].default_endpoint
SIGNATURE_SEP = "__ts__"
DUMMY_SIGNATURE = "skip_thought_signature_validator"
_ALNUM = string.ascii_letters + string.digits
_IMAGE_DATA_URL = re.compile(r"^data:(image/[a-z0-9.+-]+);base64,(.+)$", re.S)
_ANY_DATA_URL = re.compile(r"^data:([a-z0-9.+-]+/[a-z0-9.+-]+);base64,(.+)$", re.S)
# Schema keys Gemini's OpenAPI subset knows (others are rejected as unknown names).
_SCHEMA_COPY = (
    "title",
    "description",
    "nullable",
    "maxItems",
    "minItems",
    "minProperties",
    "maxProperties",
    "minLength",
    "maxLength",
    "pattern",
    "example",
    "default",
    "minimum",
    "maximum",
    "propertyOrdering",
)
_FORMATS = {
    "string": {"enum", "date-time"},
    "number": {"float", "double"},
    "integer": {"int32", "int64"},
}
_FILTER_REASONS = {
    "SAFETY",
    "RECITATION",
    "BLOCKLIST",
    "PROHIBITED_CONTENT",
    "SPII",
    "LANGUAGE",
    "OTHER",
    "IMAGE_SAFETY",
    "IMAGE_PROHIBITED_CONTENT",
    "IMAGE_RECITATION",
    "IMAGE_OTHER",
    "NO_IMAGE",
}
_GOOGLE_STATUS_HTTP = {
    **dict.fromkeys(("INVALID_ARGUMENT", "FAILED_PRECONDITION", "OUT_OF_RANGE"), 400),
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
    "NOT_FOUND": 404,
    "RESOURCE_EXHAUSTED": 429,
    "INTERNAL": 500,
    "UNAVAILABLE": 503,
    "DEADLINE_EXCEEDED": 504,
}
_BUDGETS = {"none": 0, "minimal": 512, "low": 1024, "medium": 8192, "high": 24576}


# -- URLs -----------------------------------------------------------------------


def base_url(cfg: DriverConfig) -> str:
    return (cfg.base_url or DEFAULT_BASE).rstrip("/")


def model_path(model_id: str) -> str:
    """``models/<id>`` (or ``tunedModels/<id>``), escaped so it stays one segment."""
    kind, _, name = model_id.rpartition("/")
    kind = "tunedModels" if kind == "tunedModels" else "models"
    return f"{kind}/{quote(name, safe='-._~')}"


def chat_url(cfg: DriverConfig, model_id: str, stream: bool) -> str:
    method = "streamGenerateContent?alt=sse" if stream else "generateContent"
    return f"{base_url(cfg)}/{model_path(model_id)}:{method}"


# -- tool-call ids and thought signatures -----------------------------------------


def synth_tool_id() -> str:
    return "call_" + "".join(secrets.choice(_ALNUM) for _ in range(24))


def encode_tool_id(call_id: str | None, signature: str | None) -> str:
    """A canonical tool-call id carrying Gemini's thought signature, if any."""
    base = call_id or synth_tool_id()
    if not signature:
        return base
    token = signature.replace("+", "-").replace("/", "_").rstrip("=")
    return f"{base}{SIGNATURE_SEP}{token}"


def decode_tool_id(tool_id: str) -> tuple[str, str | None]:
    """(original id, thought signature in standard base64 or None)."""
    base, sep, token = tool_id.partition(SIGNATURE_SEP)
    if not sep or not token:
        return tool_id, None
    sig = token.replace("-", "+").replace("_", "/")
    return base, sig + "=" * (-len(sig) % 4)


# -- request translation ------------------------------------------------------------


def _text_of(content: Any, param: str, allow_refusal: bool = False) -> list[str]:
    if content is None:
        return []
    if isinstance(content, str):
        return [content] if content else []
    if not isinstance(content, list):
        raise invalid_request("Message content must be a string or an array.", param)
    texts = []
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text" and isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif kind == "refusal" and allow_refusal:
            texts.append(str(part.get("refusal") or ""))
        else:
            raise invalid_request(
                "Only text content is allowed here.", f"{param}[{j}].type"
            )
    return [t for t in texts if t]


def image_urls(request: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(url, param) for every http(s) image the driver must fetch and inline."""
    found = []
    for i, msg in enumerate(request.get("messages") or []):
        content = msg.get("content") if isinstance(msg, dict) else None
        if msg.get("role") != "user" or not isinstance(content, list):
            continue
        for j, part in enumerate(content):
            if isinstance(part, dict) and part.get("type") == "image_url":
                url = (part.get("image_url") or {}).get("url")
                if isinstance(url, str) and url.startswith(("http://", "https://")):
                    found.append((url, f"messages[{i}].content[{j}].image_url.url"))
    return found


def _user_parts(
    content: Any, i: int, images: Mapping[str, tuple[str, str]]
) -> list[dict[str, Any]]:
    param = f"messages[{i}].content"
    if content is None or isinstance(content, str):
        return [{"text": content}] if content else []
    if not isinstance(content, list):
        raise invalid_request("Message content must be a string or an array.", param)
    parts: list[dict[str, Any]] = []
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        where = f"{param}[{j}]"
        if kind == "text":
            if part.get("text"):
                parts.append({"text": str(part["text"])})
        elif kind == "image_url":
            url = str((part.get("image_url") or {}).get("url") or "")
            match = _IMAGE_DATA_URL.match(url)
            if match:
                parts.append(_inline(match.group(1), match.group(2)))
            elif url in images:
                parts.append(_inline(*images[url]))
            else:
                raise invalid_request(
                    "Images must be https URLs or data:image/...;base64 URLs.",
                    f"{where}.image_url.url",
                )
        elif kind == "input_audio":
            audio = part.get("input_audio") or {}
            fmt = str(audio.get("format") or "wav")
            parts.append(_inline(f"audio/{fmt}", str(audio.get("data") or "")))
        elif kind == "file":
            match = _ANY_DATA_URL.match(str((part.get("file") or {}).get("file_data")))
            if not match:
                raise invalid_request(
                    "Files must be sent inline as a base64 data URL (file_data).",
                    f"{where}.file",
                )
            parts.append(_inline(match.group(1), match.group(2)))
        else:
            raise invalid_request(
                f"Content part type {kind!r} is not supported.", f"{where}.type"
            )
    return parts


def _inline(mime: str, data: str) -> dict[str, Any]:
    return {"inlineData": {"mimeType": mime, "data": data.strip()}}


def _parse_arguments(raw: Any, param: str) -> dict[str, Any]:
    if raw is None or raw == "":
        return {}
    if isinstance(raw, dict):
        return raw
    try:
        value = json.loads(raw)
    except (TypeError, ValueError):
        raise invalid_request(
            "Tool call arguments must be a JSON object.", param
        ) from None
    if not isinstance(value, dict):
        raise invalid_request("Tool call arguments must be a JSON object.", param)
    return value


def _assistant_parts(msg: Mapping[str, Any], i: int) -> list[dict[str, Any]]:
    param = f"messages[{i}]"
    texts = _text_of(msg.get("content"), f"{param}.content", allow_refusal=True)
    parts: list[dict[str, Any]] = [{"text": t} for t in texts]
    calls = msg.get("tool_calls") or []
    if msg.get("function_call"):
        calls = [*calls, {"id": "", "function": msg["function_call"]}]
    for j, call in enumerate(calls):
        fn = call.get("function") or {}
        name = fn.get("name")
        if not isinstance(name, str) or not name:
            raise invalid_request(
                "Tool calls need a function name.",
                f"{param}.tool_calls[{j}].function.name",
            )
        args = _parse_arguments(
            fn.get("arguments"), f"{param}.tool_calls[{j}].function.arguments"
        )
        out: dict[str, Any] = {"functionCall": {"name": name, "args": args}}
        _, sig = decode_tool_id(str(call.get("id") or ""))
        if sig:
            out["thoughtSignature"] = sig
        parts.append(out)
    return parts


def _tool_result_part(name: str, content: Any, param: str) -> dict[str, Any]:
    text = "".join(_text_of(content, param))
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    response = value if isinstance(value, dict) else {"content": text}
    return {"functionResponse": {"name": name, "response": response}}


def build_contents(
    messages: list[Any],
    images: Mapping[str, tuple[str, str]] | None = None,
    signature_fallback: bool = False,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(systemInstruction parts, contents) from canonical messages (2.1 pipeline)."""
    images = images or {}
    names: dict[str, str] = {}
    for msg in messages:
        if isinstance(msg, dict) and msg.get("role") == "assistant":
            for call in msg.get("tool_calls") or []:
                fn = call.get("function") or {}
                if call.get("id") and fn.get("name"):
                    names[str(call["id"])] = str(fn["name"])
    system: list[dict[str, Any]] = []
    turns: list[dict[str, Any]] = []

    def add(role: str, parts: list[dict[str, Any]]) -> None:
        if not parts:
            return
        if turns and turns[-1]["role"] == role:
            turns[-1]["parts"].extend(parts)
        else:
            turns.append({"role": role, "parts": parts})

    for i, msg in enumerate(messages):
        if not isinstance(msg, dict):
            raise invalid_request("Each message must be an object.", f"messages[{i}]")
        role = msg.get("role")
        if role in ("system", "developer"):
            texts = _text_of(msg.get("content"), f"messages[{i}].content")
            system.extend({"text": t} for t in texts)
        elif role == "user":
            add("user", _user_parts(msg.get("content"), i, images))
        elif role == "assistant":
            add("model", _assistant_parts(msg, i))
        elif role in ("tool", "function"):
            call_id = str(msg.get("tool_call_id") or "")
            name = names.get(call_id) or msg.get("name")
            if not name:
                raise invalid_request(
                    "This tool result answers no tool call in the conversation.",
                    f"messages[{i}].tool_call_id",
                )
            part = _tool_result_part(
                str(name), msg.get("content"), f"messages[{i}].content"
            )
            add("user", [part])
        else:
            raise invalid_request(f"Unknown role {role!r}.", f"messages[{i}].role")
    if signature_fallback:
        for turn in turns:
            calls = [p for p in turn["parts"] if "functionCall" in p]
            if calls and not any("thoughtSignature" in p for p in calls):
                calls[0]["thoughtSignature"] = DUMMY_SIGNATURE
    return system, turns


def gemini_schema(schema: Any, defs: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A JSON Schema cut down to the OpenAPI subset Gemini's ``parameters`` accept."""
    if not isinstance(schema, dict):
        return {}
    if defs is None:
        defs = {**(schema.get("definitions") or {}), **(schema.get("$defs") or {})}
    return _schema(schema, defs, 0)


def _deref(node: dict[str, Any], defs: Mapping[str, Any], seen: int) -> dict[str, Any]:
    while isinstance(node.get("$ref"), str) and seen < 16:
        target = defs.get(node["$ref"].rsplit("/", 1)[-1])
        rest = {k: v for k, v in node.items() if k != "$ref"}
        node = {**target, **rest} if isinstance(target, dict) else rest
        seen += 1
    return node


def _schema(
    node: dict[str, Any], defs: Mapping[str, Any], depth: int
) -> dict[str, Any]:
    if depth > 24:  # recursive $ref: stop with an open object
        return {"type": "object"}
    node = dict(_deref(node, defs, 0))
    for sub in node.pop("allOf", None) or []:
        if isinstance(sub, dict):
            sub = _deref(sub, defs, 0)
            props = {**(sub.get("properties") or {}), **(node.get("properties") or {})}
            required = [*(node.get("required") or []), *(sub.get("required") or [])]
            node = {**sub, **node, "properties": props, "required": required}
    out: dict[str, Any] = {}
    kind = node.get("type")
    if isinstance(kind, list):
        kinds = [k for k in kind if k != "null"]
        if len(kinds) < len(kind):
            out["nullable"] = True
        kind = kinds[0] if len(kinds) == 1 else None
        if len(kinds) > 1:
            out["anyOf"] = [{"type": k} for k in kinds]
    if isinstance(kind, str) and kind != "null":
        out["type"] = kind
    for key in _SCHEMA_COPY:
        if key in node and node[key] is not None:
            out[key] = node[key]
    fmt = node.get("format")
    if isinstance(fmt, str) and fmt in _FORMATS.get(str(kind), set()):
        out["format"] = fmt
    enum = node.get("enum", [node["const"]] if "const" in node else None)
    if isinstance(enum, list):
        if None in enum:
            out["nullable"] = True
        values = [v for v in enum if v is not None]
        if kind in (None, "string"):
            out["type"] = "string"
            out["enum"] = [str(v) for v in values]
        elif values:  # Gemini's enum is for strings: keep the rule in the text
            allowed = ", ".join(json.dumps(v) for v in values)
            out["description"] = f"{out.get('description', '')} (one of {allowed})"
            out["description"] = out["description"].strip()
    variants = node.get("anyOf") or node.get("oneOf")
    if isinstance(variants, list):
        variants = [v for v in variants if isinstance(v, dict)]
        if any(v.get("type") == "null" for v in variants):
            out["nullable"] = True
        subs = [
            _schema(v, defs, depth + 1) for v in variants if v.get("type") != "null"
        ]
        if len(subs) == 1:
            out = {**subs[0], **out}
        elif subs:
            out["anyOf"] = subs
    props = node.get("properties")
    if isinstance(props, dict) and props:
        out["properties"] = {
            str(k): _schema(v, defs, depth + 1) for k, v in props.items()
        }
        required = [r for r in node.get("required") or [] if r in props]
        if required:
            out["required"] = list(dict.fromkeys(required))
    items = node.get("items")
    if isinstance(items, dict):
        out["items"] = _schema(items, defs, depth + 1)
    return out


def _tool_declarations(tools: Any) -> list[dict[str, Any]]:
    if not isinstance(tools, list):
        raise invalid_request("tools must be an array.", "tools")
    decls = []
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict) or tool.get("type", "function") != "function":
            raise invalid_request(
                "Only function tools are supported by Gemini providers.",
                f"tools[{i}].type",
            )
        fn = tool.get("function") or {}
        if not isinstance(fn.get("name"), str) or not fn["name"]:
            raise invalid_request("Tools need a name.", f"tools[{i}].function.name")
        decl: dict[str, Any] = {"name": fn["name"]}
        if fn.get("description"):
            decl["description"] = str(fn["description"])
        params = gemini_schema(fn.get("parameters"))
        if params.get("properties") or params.get("type") not in (None, "object"):
            decl["parameters"] = params
        decls.append(decl)
    return decls


def _tool_config(
    choice: Any, decls: list[dict[str, Any]]
) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """(toolConfig or None, declarations to send) for a canonical tool_choice."""
    known = {d["name"] for d in decls}
    if choice is None:
        return None, decls
    if not decls:
        if choice in ("none", "auto"):
            return None, decls
        raise invalid_request("tool_choice needs tools.", "tool_choice")
    if choice in ("auto", "none", "required"):
        mode = {"auto": "AUTO", "none": "NONE", "required": "ANY"}[choice]
        return {"functionCallingConfig": {"mode": mode}}, decls
    if isinstance(choice, dict) and choice.get("type") == "function":
        name = (choice.get("function") or {}).get("name")
        if name not in known:
            raise invalid_request(f"No tool named {name!r}.", "tool_choice")
        config = {"mode": "ANY", "allowedFunctionNames": [name]}
        return {"functionCallingConfig": config}, decls
    if isinstance(choice, dict) and choice.get("type") == "allowed_tools":
        allowed = choice.get("allowed_tools") or {}
        names = [
            (t.get("function") or {}).get("name") for t in allowed.get("tools", [])
        ]
        if not names or any(n not in known for n in names):
            raise invalid_request("allowed_tools names unknown tools.", "tool_choice")
        if allowed.get("mode") == "required":
            config = {"mode": "ANY", "allowedFunctionNames": names}
            return {"functionCallingConfig": config}, decls
        # allowedFunctionNames only works with ANY: send just the allowed tools.
        chosen = [d for d in decls if d["name"] in names]
        return {"functionCallingConfig": {"mode": "AUTO"}}, chosen
    raise invalid_request("Unsupported tool_choice.", "tool_choice")


def _generation_config(
    request: Mapping[str, Any], model_id: str, config: Mapping[str, Any]
) -> dict[str, Any]:
    gen: dict[str, Any] = {}
    max_tokens = request.get("max_completion_tokens") or request.get("max_tokens")
    if max_tokens is not None:
        gen["maxOutputTokens"] = max_tokens
    for src, dst in (
        ("temperature", "temperature"),
        ("top_p", "topP"),
        ("seed", "seed"),
        ("presence_penalty", "presencePenalty"),
        ("frequency_penalty", "frequencyPenalty"),
    ):
        if request.get(src) is not None:
            gen[dst] = request[src]
    stop = request.get("stop")
    if isinstance(stop, str):
        stop = [stop]
    if stop:
        gen["stopSequences"] = [s for s in stop if isinstance(s, str) and s]
    n = request.get("n")
    if n is not None and n != 1:
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise invalid_request("n must be a positive integer.", "n")
        gen["candidateCount"] = n
    fmt = request.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") in ("json_object", "json_schema"):
        gen["responseMimeType"] = "application/json"
        schema = (fmt.get("json_schema") or {}).get("schema")
        if fmt["type"] == "json_schema" and isinstance(schema, dict):
            gen["responseJsonSchema"] = schema
    elif fmt is not None and not (isinstance(fmt, dict) and fmt.get("type") == "text"):
        raise invalid_request("Unsupported response_format.", "response_format")
    thinking: dict[str, Any] = {}
    effort = request.get("reasoning_effort")
    if isinstance(effort, str) and effort in _BUDGETS:
        if model_path(model_id).startswith("models/gemini-3"):
            thinking["thinkingLevel"] = (
                "high" if effort in ("medium", "high") else "low"
            )
        else:
            thinking["thinkingBudget"] = _BUDGETS[effort]
    if config.get("include_thoughts"):
        thinking["includeThoughts"] = True
    if thinking:
        gen["thinkingConfig"] = thinking
    return gen


def build_chat_body(
    request: Mapping[str, Any],
    model_id: str,
    images: Mapping[str, tuple[str, str]] | None = None,
    config: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The generateContent body for a canonical chat request."""
    config = config or {}
    if request.get("logprobs"):
        raise invalid_request(
            "logprobs is not supported by Gemini providers.", "logprobs"
        )
    if "audio" in (request.get("modalities") or []) or request.get("audio"):
        raise invalid_request("Audio output is not supported here.", "modalities")
    messages = request.get("messages")
    if not isinstance(messages, list) or not messages:
        raise invalid_request("messages must be a non-empty array.", "messages")
    fallback = config.get("thought_signature_fallback")
    if fallback is None:
        fallback = model_path(model_id).startswith("models/gemini-3")
    system, contents = build_contents(messages, images, bool(fallback))
    if not contents:
        raise invalid_request(
            "messages need at least one user or assistant message.", "messages"
        )
    body: dict[str, Any] = {"contents": contents}
    if system:
        body["systemInstruction"] = {"parts": system}
    tools = request.get("tools")
    if tools is None and request.get("functions"):
        tools = [{"type": "function", "function": f} for f in request["functions"]]
    decls = _tool_declarations(tools) if tools else []
    choice = request.get("tool_choice")
    if choice is None and isinstance(request.get("function_call"), (str, dict)):
        legacy = request["function_call"]
        choice = (
            legacy
            if isinstance(legacy, str)
            else {"type": "function", "function": legacy}
        )
    tool_config, decls = _tool_config(choice, decls)
    if decls:
        body["tools"] = [{"functionDeclarations": decls}]
    if tool_config:
        body["toolConfig"] = tool_config
    gen = _generation_config(request, model_id, config)
    if gen:
        body["generationConfig"] = gen
    if config.get("safety_settings"):
        body["safetySettings"] = list(config["safety_settings"])
    return body


def build_chat_request(
    cfg: DriverConfig,
    request: Mapping[str, Any],
    model_id: str,
    stream: bool,
    headers: Mapping[str, str] | None = None,
    images: Mapping[str, tuple[str, str]] | None = None,
) -> UpstreamRequest:
    body = build_chat_body(request, model_id, images, cfg.config)
    all_headers = {**(headers or {}), "Content-Type": "application/json"}
    if stream:
        all_headers["Accept"] = "text/event-stream"
    return UpstreamRequest("POST", chat_url(cfg, model_id, stream), all_headers, body)


# -- response translation -----------------------------------------------------------


def map_finish_reason(reason: str | None, has_tool_calls: bool) -> str:
    if reason == "MAX_TOKENS":
        return "length"
    if reason in _FILTER_REASONS:
        return "content_filter"
    return "tool_calls" if has_tool_calls else "stop"


def parse_usage(meta: Mapping[str, Any] | None) -> dict[str, Any]:
    meta = meta or {}
    thoughts = int(meta.get("thoughtsTokenCount") or 0)
    prompt = int(meta.get("promptTokenCount") or 0) + int(
        meta.get("toolUsePromptTokenCount") or 0
    )
    completion = int(meta.get("candidatesTokenCount") or 0) + thoughts
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {
            "cached_tokens": int(meta.get("cachedContentTokenCount") or 0)
        },
        "completion_tokens_details": {"reasoning_tokens": thoughts},
    }


def _tool_call(part: Mapping[str, Any]) -> dict[str, Any]:
    call = part.get("functionCall") or {}
    return {
        "id": encode_tool_id(call.get("id"), part.get("thoughtSignature")),
        "type": "function",
        "function": {
            "name": str(call.get("name") or ""),
            "arguments": json.dumps(call.get("args") or {}, ensure_ascii=False),
        },
    }


def parse_chat_response(data: Mapping[str, Any], model: str = "") -> dict[str, Any]:
    """A canonical chat.completion from a GenerateContentResponse."""
    choices = []
    candidates = data.get("candidates") or []
    for pos, cand in enumerate(candidates):
        texts, thoughts, calls = [], [], []
        for part in (cand.get("content") or {}).get("parts") or []:
            if "functionCall" in part:
                calls.append(_tool_call(part))
            elif isinstance(part.get("text"), str):
                (thoughts if part.get("thought") else texts).append(part["text"])
        text = "".join(texts)
        message: dict[str, Any] = {
            "role": "assistant",
            "content": text or (None if calls else ""),
        }
        if calls:
            message["tool_calls"] = calls
        if thoughts:
            message["reasoning_content"] = "".join(thoughts)
        choices.append(
            {
                "index": int(cand.get("index", pos)),
                "message": message,
                "finish_reason": map_finish_reason(
                    cand.get("finishReason"), bool(calls)
                ),
                "logprobs": None,
            }
        )
    if not choices:
        blocked = bool((data.get("promptFeedback") or {}).get("blockReason"))
        choices.append(
            {
                "index": 0,
                "message": {"role": "assistant", "content": ""},
                "finish_reason": "content_filter" if blocked else "stop",
                "logprobs": None,
            }
        )
    response_id = data.get("responseId")
    return {
        "id": f"chatcmpl-{response_id}" if response_id else new_completion_id(),
        "object": "chat.completion",
        "created": now(),
        "model": model or str(data.get("modelVersion") or ""),
        "choices": sorted(choices, key=lambda c: c["index"]),
        "usage": parse_usage(data.get("usageMetadata")),
    }


def _chunk(
    index: int, delta: dict[str, Any], finish: str | None = None
) -> dict[str, Any]:
    return {"choices": [{"index": index, "delta": delta, "finish_reason": finish}]}


class StreamTranslator:
    """GenerateContentResponse stream events → canonical chunks (pure)."""

    def __init__(self, secret: str | None = None) -> None:
        self.secret = secret
        self.started: set[int] = set()
        self.finished: set[int] = set()
        self.tool_counts: dict[int, int] = {}
        self.usage: dict[str, Any] | None = None

    def _start(self, index: int) -> list[dict[str, Any]]:
        if index in self.started:
            return []
        self.started.add(index)
        return [_chunk(index, {"role": "assistant", "content": ""})]

    def feed(self, event: Mapping[str, Any]) -> list[dict[str, Any]]:
        if "error" in event:
            raise error_from_gemini(0, event, secret=self.secret)
        out: list[dict[str, Any]] = []
        if event.get("usageMetadata"):
            self.usage = parse_usage(event["usageMetadata"])
        candidates = event.get("candidates") or []
        if not candidates and (event.get("promptFeedback") or {}).get("blockReason"):
            out += self._start(0)
            if 0 not in self.finished:
                self.finished.add(0)
                out.append(_chunk(0, {}, "content_filter"))
        for pos, cand in enumerate(candidates):
            idx = int(cand.get("index", pos))
            out += self._start(idx)
            for part in (cand.get("content") or {}).get("parts") or []:
                out += self._part(idx, part)
            reason = cand.get("finishReason")
            if reason and idx not in self.finished:
                self.finished.add(idx)
                has_tools = self.tool_counts.get(idx, 0) > 0
                out.append(_chunk(idx, {}, map_finish_reason(reason, has_tools)))
        return out

    def _part(self, idx: int, part: Mapping[str, Any]) -> list[dict[str, Any]]:
        if "functionCall" in part:
            call = _tool_call(part)
            k = self.tool_counts.get(idx, 0)
            self.tool_counts[idx] = k + 1
            args = call["function"]["arguments"]
            call["function"]["arguments"] = ""
            start = _chunk(idx, {"tool_calls": [{"index": k, **call}]})
            frag = {"index": k, "function": {"arguments": args}}
            return [start, _chunk(idx, {"tool_calls": [frag]})]
        text = part.get("text")
        if not isinstance(text, str) or not text:
            return []
        key = "reasoning_content" if part.get("thought") else "content"
        return [_chunk(idx, {key: text})]

    def finish(self) -> list[dict[str, Any]]:
        if not self.started:
            raise DriverError("gemini ended the stream without an answer", status=502)
        out = []
        for idx in sorted(self.started - self.finished):
            self.finished.add(idx)
            has_tools = self.tool_counts.get(idx, 0) > 0
            out.append(_chunk(idx, {}, "tool_calls" if has_tools else "stop"))
        if self.usage is not None:
            out.append({"choices": [], "usage": self.usage})
        return out


class EventDecoder:
    """Lines of an ``alt=sse`` body → JSON payloads (pure).

    Besides ``data:`` events Gemini may append a raw, multi-line JSON error object
    (or an array of them) after the last event; those lines are buffered until
    they parse.
    """

    MAX_RAW = 1 << 20

    def __init__(self) -> None:
        self.data: list[str] = []
        self.raw: list[str] = []

    def feed_line(self, line: str) -> list[dict[str, Any]]:
        if self.raw or line.lstrip().startswith(("{", "[")):
            self.raw.append(line)
            return self._try_raw(final=False)
        if line == "":
            return self._flush_data()
        if line.startswith("data:"):
            self.data.append(line[5:].removeprefix(" "))
        return []  # comments, event:, id:, retry:

    def close(self) -> list[dict[str, Any]]:
        return self._flush_data() + self._try_raw(final=True)

    def _flush_data(self) -> list[dict[str, Any]]:
        if not self.data:
            return []
        text, self.data = "\n".join(self.data), []
        return _payloads(text)

    def _try_raw(self, final: bool) -> list[dict[str, Any]]:
        if not self.raw:
            return []
        text = "\n".join(self.raw)
        try:
            found = _payloads(text)
        except DriverError:
            if final or len(text) > self.MAX_RAW:
                raise
            return []
        self.raw = []
        return found


def _payloads(text: str) -> list[dict[str, Any]]:
    try:
        value = json.loads(text)
    except ValueError:
        raise DriverError(
            "gemini sent an unreadable stream event", status=502, transient=True
        ) from None
    items = value if isinstance(value, list) else [value]
    return [item for item in items if isinstance(item, dict)]


# -- errors ---------------------------------------------------------------------------


def error_from_gemini(
    status: int,
    body: bytes | str | Mapping[str, Any] | list[Any],
    headers: Mapping[str, str] | None = None,
    secret: str | None = None,
) -> DriverError:
    """Map a Gemini error (HTTP answer, or ``status`` 0 for an in-stream one)."""
    data: Any = body
    if isinstance(body, (bytes, str)):
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
        try:
            data = json.loads(text)
        except ValueError:
            data = {"error": {"message": text.strip()[:500]}}
    if isinstance(data, list) and data:
        data = data[0]
    err = data.get("error") if isinstance(data, dict) else None
    err = err if isinstance(err, dict) else {}
    message = str(err.get("message") or "")
    if secret:
        message = message.replace(secret, "***")
    gstatus = str(err.get("status") or "")
    if not status:
        code = err.get("code")
        status = code if isinstance(code, int) and code >= 400 else 0
        status = status or _GOOGLE_STATUS_HTTP.get(gstatus, 500)
    details = [d for d in err.get("details") or [] if isinstance(d, dict)]
    reasons = {str(d.get("reason")) for d in details if d.get("reason")}
    if any(r.startswith("API_KEY_") for r in reasons) or gstatus == "UNAUTHENTICATED":
        return error_from_status(401, message, headers, VENDOR)
    headers = dict(headers or {})
    if parse_retry_after(headers) is None:
        for d in details:
            delay = str(d.get("retryDelay") or "")
            if delay.endswith("s") and delay[:-1].replace(".", "", 1).isdigit():
                headers["retry-after"] = delay[:-1]
    if gstatus == "RESOURCE_EXHAUSTED":
        status = 429
    result = error_from_status(status, message, headers, VENDOR)
    if result.status == 503 and "overload" in message.lower():
        result.code = "upstream_overloaded"
    return result


# -- embeddings and models ----------------------------------------------------------


def build_embed_bodies(
    request: Mapping[str, Any],
    model_id: str,
    batch_size: int = 100,
    task_type: str | None = None,
) -> list[dict[str, Any]]:
    """batchEmbedContents bodies (chunked) for an OpenAI embeddings request."""
    raw = request.get("input")
    inputs = [raw] if isinstance(raw, str) else raw
    if not isinstance(inputs, list) or not inputs:
        raise invalid_request("input must be a string or an array of strings.", "input")
    for i, item in enumerate(inputs):
        if not isinstance(item, str):
            raise invalid_request(
                "Gemini embeddings take text only, not token arrays.", f"input[{i}]"
            )
        if not item:
            raise invalid_request("input must not contain empty strings.", "input")
    name = model_path(model_id)
    extra: dict[str, Any] = {}
    if request.get("dimensions") is not None:
        extra["outputDimensionality"] = request["dimensions"]
    if task_type:
        extra["taskType"] = task_type
    reqs = [
        {"model": name, "content": {"parts": [{"text": text}]}, **extra}
        for text in inputs
    ]
    size = max(1, batch_size)
    return [{"requests": reqs[i : i + size]} for i in range(0, len(reqs), size)]


def parse_embed_vectors(data: Mapping[str, Any], expected: int) -> list[list[float]]:
    vectors = [list(e.get("values") or []) for e in data.get("embeddings") or []]
    if len(vectors) != expected:
        raise DriverError(
            f"gemini returned {len(vectors)} embeddings for {expected} inputs",
            status=502,
        )
    return vectors


def embeddings_result(
    vectors: list[list[float]], model: str, encoding_format: str | None = None
) -> dict[str, Any]:
    data = []
    for i, vector in enumerate(vectors):
        value: Any = vector
        if encoding_format == "base64":
            packed = struct.pack(f"<{len(vector)}f", *vector)
            value = base64.b64encode(packed).decode()
        data.append({"object": "embedding", "index": i, "embedding": value})
    return {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": 0, "total_tokens": 0},
    }


def parse_models_page(data: Mapping[str, Any]) -> tuple[list[ModelInfo], str | None]:
    """(models, next page token) from one ``GET /models`` page.

    Models that neither generate content nor embed (Imagen, Veo, AQA) are skipped.
    """
    found = []
    for item in data.get("models") or []:
        name = str(item.get("name") or "")
        model_id = name.removeprefix("models/")
        methods = set(item.get("supportedGenerationMethods") or [])
        chat = bool(methods & {"generateContent", "streamGenerateContent"})
        embeds = bool(methods & {"embedContent", "batchEmbedContents", "embedText"})
        if not model_id or (methods and not chat and not embeds):
            continue
        limit = item.get("inputTokenLimit")
        found.append(
            ModelInfo(
                model_id=model_id,
                name=str(item.get("displayName") or model_id),
                model_type="embedding" if embeds and not chat else "inference",
                context_window=int(limit) if isinstance(limit, int) else None,
            )
        )
    return found, data.get("nextPageToken") or None


# -- I/O -------------------------------------------------------------------------------


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        raise DriverError("gemini sent an unreadable answer", status=502) from None


class GeminiDriver(Driver):
    vendor = VENDOR

    def error_from_response(
        self, status: int, body: bytes, headers: Mapping[str, str]
    ) -> DriverError:
        secret = str(self.config.credentials.get("api_key") or "") or None
        return error_from_gemini(status, body, headers, secret)

    async def _fetch_image(self, url: str, param: str) -> tuple[str, str]:
        cap = int(self.config.config.get("max_image_bytes") or 10 * 1024 * 1024)
        t = self.config.timeouts
        timeout = httpx.Timeout(
            connect=t.connect,
            read=min(t.first_byte, 20.0),
            write=t.connect,
            pool=t.connect,
        )
        try:
            async with self.client.stream("GET", url, timeout=timeout) as resp:
                mime = resp.headers.get("content-type", "").split(";")[0].strip()
                if resp.status_code != 200 or not mime.startswith("image/"):
                    raise invalid_request(
                        f"The image URL answered HTTP {resp.status_code} "
                        f"({mime or '?'}), not an image.",
                        param,
                    )
                data = bytearray()
                async for block in resp.aiter_bytes():
                    data += block
                    if len(data) > cap:
                        raise invalid_request(
                            f"The image is larger than {cap} bytes.", param
                        )
        except httpx.HTTPError as exc:
            raise invalid_request(
                f"The image URL could not be fetched ({type(exc).__name__}).", param
            ) from None
        return mime, base64.b64encode(bytes(data)).decode()

    async def _images(self, request: Mapping[str, Any]) -> dict[str, tuple[str, str]]:
        wanted = dict(image_urls(request))
        if len(wanted) > 16:
            raise invalid_request("At most 16 image URLs per request.", "messages")
        fetched = await asyncio.gather(
            *(self._fetch_image(url, param) for url, param in wanted.items())
        )
        return dict(zip(wanted, fetched, strict=True))

    async def _request(
        self, request: Mapping[str, Any], model_id: str, stream: bool
    ) -> UpstreamRequest:
        images = await self._images(request)
        headers = await self.auth()
        return build_chat_request(
            self.config, request, model_id, stream, headers, images
        )

    async def chat(self, request: dict[str, Any], model_id: str) -> dict[str, Any]:
        req = await self._request(request, model_id, stream=False)
        response = await self.send(req)
        return parse_chat_response(_json(response), model_id)

    async def chat_stream(
        self, request: dict[str, Any], model_id: str
    ) -> AsyncIterator[dict[str, Any]]:
        req = await self._request(request, model_id, stream=True)
        response = await self.open_stream(req)
        secret = str(self.config.credentials.get("api_key") or "") or None
        decoder, translator = EventDecoder(), StreamTranslator(secret)
        try:
            try:
                async for line in response.aiter_lines():
                    for event in decoder.feed_line(line):
                        for chunk in translator.feed(event):
                            yield chunk
                for event in decoder.close():
                    for chunk in translator.feed(event):
                        yield chunk
            except (TimeoutError, httpx.HTTPError, OSError) as exc:
                raise stream_error(exc, self.vendor) from None
            for chunk in translator.finish():
                yield chunk
        finally:
            await response.aclose()

    async def embed(self, request: dict[str, Any], model_id: str) -> dict[str, Any]:
        bodies = build_embed_bodies(
            request,
            model_id,
            int(self.config.config.get("embed_batch_size") or 100),
            self.config.config.get("embedding_task_type"),
        )
        headers = {**await self.auth(), "Content-Type": "application/json"}
        url = f"{base_url(self.config)}/{model_path(model_id)}:batchEmbedContents"
        vectors: list[list[float]] = []
        for body in bodies:
            response = await self.send(UpstreamRequest("POST", url, headers, body))
            vectors += parse_embed_vectors(_json(response), len(body["requests"]))
        return embeddings_result(vectors, model_id, request.get("encoding_format"))

    async def _models_page(self, page_size: int, token: str | None) -> Any:
        params = f"?pageSize={page_size}"
        if token:
            params += f"&pageToken={quote(token, safe='')}"
        req = UpstreamRequest(
            "GET", f"{base_url(self.config)}/models{params}", await self.auth()
        )
        return _json(await self.send(req))

    async def list_models(self) -> list[ModelInfo]:
        models: list[ModelInfo] = []
        token: str | None = None
        seen: set[str] = set()
        for _ in range(100):  # a hard stop against a token loop
            page, token = parse_models_page(await self._models_page(1000, token))
            models += page
            if not token or token in seen:
                break
            seen.add(token)
        return models

    async def health_check(self) -> None:
        await self._models_page(1, None)
