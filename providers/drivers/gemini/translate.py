"""Request translation: canonical chat request → generateContent body (pure).

The policies are listed in the package docstring (``providers.drivers.gemini``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from providers.drivers.canonical import append_turn, parse_tool_arguments
from providers.drivers.config import DriverConfig, UpstreamRequest
from providers.drivers.errors import check_vendor_range, invalid_request
from providers.drivers.gemini.schema import gemini_schema
from providers.drivers.gemini.signatures import DUMMY_SIGNATURE, decode_tool_id
from providers.drivers.gemini.urls import chat_url, model_path
from providers.drivers.images import image_data_url, image_url_of

_ANY_DATA_URL = re.compile(r"^data:([a-z0-9.+-]+/[a-z0-9.+-]+);base64,(.+)$", re.S)


_BUDGETS = {"none": 0, "minimal": 512, "low": 1024, "medium": 8192, "high": 24576}


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
            url = image_url_of(part)
            inline = image_data_url(url, f"{where}.image_url.url")
            if inline is not None:
                parts.append(_inline(*inline))
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
        args = parse_tool_arguments(
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

    for i, msg in enumerate(messages):
        if not isinstance(msg, dict):
            raise invalid_request("Each message must be an object.", f"messages[{i}]")
        role = msg.get("role")
        if role in ("system", "developer"):
            texts = _text_of(msg.get("content"), f"messages[{i}].content")
            system.extend({"text": t} for t in texts)
        elif role == "user":
            append_turn(
                turns, "user", _user_parts(msg.get("content"), i, images), "parts"
            )
        elif role == "assistant":
            append_turn(turns, "model", _assistant_parts(msg, i), "parts")
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
            append_turn(turns, "user", [part], "parts")
        else:
            raise invalid_request(f"Unknown role {role!r}.", f"messages[{i}].role")
    if signature_fallback:
        for turn in turns:
            calls = [p for p in turn["parts"] if "functionCall" in p]
            if calls and not any("thoughtSignature" in p for p in calls):
                calls[0]["thoughtSignature"] = DUMMY_SIGNATURE
    return system, turns


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
        params = gemini_schema(
            fn.get("parameters"), param=f"tools[{i}].function.parameters"
        )
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
    # Gemini's penalties stop short of 2.0 and it returns at most 8 candidates.
    for penalty in ("presence_penalty", "frequency_penalty"):
        check_vendor_range(request, penalty, "Gemini", -2, 2, high_exclusive=True)
    check_vendor_range(request, "n", "Gemini", 1, 8)
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
