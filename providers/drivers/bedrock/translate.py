"""Request translation: canonical chat request → Converse body (pure, no I/O).

The policies are listed in the package docstring (``providers.drivers.bedrock``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

from providers.drivers.bedrock.signing import (
    EVENT_STREAM,
    JSON,
    dumps,
    model_url,
    sign_request,
)
from providers.drivers.canonical import append_turn, parse_tool_arguments
from providers.drivers.config import DriverConfig, UpstreamRequest
from providers.drivers.errors import check_vendor_range, invalid_request
from providers.drivers.images import image_data_url, image_url_of, sniff_image_type

FIRST_USER_PLACEHOLDER = "."


_TOOL_ID_RE = re.compile(r"^[a-zA-Z0-9_.:-]{1,64}$")


_IMAGE_FORMATS = {
    "image/png": "png",
    "image/jpeg": "jpeg",
    "image/jpg": "jpeg",
    "image/pjpeg": "jpeg",
    "image/gif": "gif",
    "image/webp": "webp",
}


def tool_id(raw: Any) -> str:
    """A Bedrock-valid tool-use id; valid ids pass unchanged, others are rewritten.

    The rewrite is deterministic (a hash suffix keeps distinct ids distinct), so a
    call id and the matching result's ``tool_call_id`` still pair up.
    """
    text = "" if raw is None else str(raw)
    if _TOOL_ID_RE.match(text):
        return text
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    cleaned = re.sub(r"[^a-zA-Z0-9_.:-]", "_", text)[:51]
    return f"{cleaned or 'call'}_{digest}"


def _text_of(content: Any, param: str) -> str:
    """Text of a system/tool message: a string or a list of text parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for j, part in enumerate(content):
            if not isinstance(part, dict) or part.get("type") not in ("text", None):
                raise invalid_request(
                    "Only text parts are allowed here.", f"{param}[{j}]"
                )
            texts.append(str(part.get("text") or ""))
        return "\n".join(t for t in texts if t.strip())
    raise invalid_request("content must be a string or an array of parts.", param)


def image_format(data: bytes, content_type: str = "") -> str | None:
    """png/jpeg/gif/webp from the magic bytes, else from the content type."""
    mime = sniff_image_type(data) or content_type.split(";")[0].strip().lower()
    return _IMAGE_FORMATS.get(mime)


def inline_images(
    refs: list[tuple[str, str]], fetched: Mapping[str, tuple[str, bytes]]
) -> dict[str, tuple[str, str]]:
    """Fetched images → ``{url: (format, base64)}``; 400 for a format Bedrock lacks."""
    images: dict[str, tuple[str, str]] = {}
    for url, param in refs:
        if url in images or url not in fetched:
            continue
        mime, data = fetched[url]
        fmt = image_format(data, mime)
        if fmt is None:
            raise invalid_request(
                f"Bedrock accepts png, jpeg, gif and webp images, not {mime}.",
                param,
                code="invalid_image_url",
            )
        images[url] = (fmt, base64.b64encode(data).decode())
    return images


def _image_block(
    part: Mapping[str, Any], param: str, images: Mapping[str, tuple[str, str]]
) -> dict[str, Any]:
    url = image_url_of(part)
    inline = image_data_url(url, param)
    if inline is not None:
        mime, payload = inline
        fmt = _IMAGE_FORMATS.get(mime)
        if fmt is None:
            raise invalid_request(
                f"Bedrock accepts png, jpeg, gif and webp, not {mime}.", param
            )
        return {"image": {"format": fmt, "source": {"bytes": payload}}}
    if url in images:
        fmt, payload = images[url]
        return {"image": {"format": fmt, "source": {"bytes": payload}}}
    raise invalid_request(
        "image_url.url must be a data: URL or an http(s) URL to an image.", param
    )


def _user_blocks(
    content: Any, param: str, images: Mapping[str, tuple[str, str]]
) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"text": content}] if content.strip() else []
    if not isinstance(content, list):
        raise invalid_request("content must be a string or an array of parts.", param)
    blocks: list[dict[str, Any]] = []
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            text = str(part.get("text") or "")
            if text.strip():
                blocks.append({"text": text})
        elif kind == "image_url":
            blocks.append(_image_block(part, f"{param}[{j}].image_url.url", images))
        else:
            raise invalid_request(
                f"Bedrock does not accept content parts of type {kind!r} here.",
                f"{param}[{j}]",
            )
    return blocks


def build_messages(
    messages: list[Any],
    *,
    native_tools: bool,
    images: Mapping[str, tuple[str, str]] | None = None,
) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """Canonical messages → (Converse ``messages``, ``system`` blocks).

    ``native_tools`` False flattens tool calls and results into text (used when
    the request defines no tools Bedrock will see).
    """
    images = images or {}
    system: list[dict[str, str]] = []
    turns: list[dict[str, Any]] = []

    for i, msg in enumerate(messages):
        if not isinstance(msg, dict):
            raise invalid_request("Each message must be an object.", f"messages[{i}]")
        role = msg.get("role")
        param = f"messages[{i}].content"
        if role in ("system", "developer"):
            text = _text_of(msg.get("content"), param)
            if text.strip():
                system.append({"text": text})
        elif role == "user":
            append_turn(turns, "user", _user_blocks(msg.get("content"), param, images))
        elif role == "assistant":
            append_turn(turns, "assistant", _assistant_blocks(msg, i, native_tools))
        elif role in ("tool", "function"):
            call_id = msg.get("tool_call_id") or msg.get("name") or ""
            text = _text_of(msg.get("content"), param)
            if native_tools:
                result: dict[str, Any] = {
                    "toolUseId": tool_id(call_id),
                    "content": [{"text": text}] if text.strip() else [],
                }
                append_turn(turns, "user", [{"toolResult": result}])
            else:
                append_turn(
                    turns,
                    "user",
                    [{"text": f"[Result of tool call {call_id}]: {text}"}],
                )
        else:
            raise invalid_request(
                f"Unsupported message role {role!r}.", f"messages[{i}].role"
            )

    if not turns:
        raise invalid_request(
            "messages must contain at least one non-empty user or assistant message.",
            "messages",
        )
    if turns[0]["role"] != "user":
        turns.insert(0, {"role": "user", "content": [{"text": FIRST_USER_PLACEHOLDER}]})
    last = turns[-1]
    if last["role"] == "assistant":
        blocks = last["content"]
        if blocks and "text" in blocks[-1]:
            stripped = blocks[-1]["text"].rstrip()
            if stripped:
                blocks[-1] = {"text": stripped}
            else:
                blocks.pop()
        if not blocks:
            turns.pop()
    return turns, system


def _assistant_blocks(
    msg: Mapping[str, Any], i: int, native_tools: bool
) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    content = msg.get("content")
    if isinstance(content, str):
        if content.strip():
            blocks.append({"text": content})
    elif isinstance(content, list):
        for j, part in enumerate(content):
            kind = part.get("type") if isinstance(part, dict) else None
            if kind not in ("text", "refusal"):
                raise invalid_request(
                    "Assistant content parts must be text or refusal.",
                    f"messages[{i}].content[{j}]",
                )
            text = str(part.get(kind) or "")
            if text.strip():
                blocks.append({"text": text})
    elif content is not None:
        raise invalid_request(
            "content must be a string, an array or null.", f"messages[{i}].content"
        )
    for j, call in enumerate(msg.get("tool_calls") or []):
        param = f"messages[{i}].tool_calls[{j}]"
        if not isinstance(call, dict):
            raise invalid_request("Each tool call must be an object.", param)
        function = call.get("function") or {}
        name = str(function.get("name") or "")
        if not name:
            raise invalid_request("Tool calls need a function name.", param)
        args = parse_tool_arguments(
            function.get("arguments"), f"{param}.function.arguments"
        )
        if native_tools:
            blocks.append(
                {
                    "toolUse": {
                        "toolUseId": tool_id(call.get("id") or f"{i}_{j}"),
                        "name": name,
                        "input": args,
                    }
                }
            )
        else:
            call_id = call.get("id")
            text = f"[Called tool {name} (id {call_id}): {json.dumps(args)}]"
            blocks.append({"text": text})
    return blocks


# Converse's toolChoice ``any`` / ``tool`` exist only for some families (AWS
# ToolChoice reference): Claude 3 and later and Nova take both, Mistral Large
# ``any`` only. Others get the emulation (``structured.py``).
_FORCE_BOTH_RE = re.compile(
    r"(?:^|[/.])(?:anthropic\.claude-(?!v2|instant)|amazon\.nova-)"
)
_FORCE_ANY_RE = re.compile(r"(?:^|[/.])mistral\.mistral-large")


def forced_tool_choice(model_id: str) -> tuple[bool, bool]:
    """(toolChoice ``any`` supported, toolChoice ``tool`` supported) for a model."""
    if _FORCE_BOTH_RE.search(model_id):
        return True, True
    return bool(_FORCE_ANY_RE.search(model_id)), False


def build_tool_config(request: Mapping[str, Any]) -> dict[str, Any] | None:
    """``toolConfig`` for the request, or None when Bedrock should see no tools."""
    tools = request.get("tools") or []
    choice = request.get("tool_choice")
    if not tools:
        if choice == "required" or isinstance(choice, dict):
            raise invalid_request("tool_choice needs tools.", "tool_choice")
        return None
    if choice == "none":
        return None
    specs = []
    names = set()
    for k, tool in enumerate(tools):
        if not isinstance(tool, dict) or tool.get("type", "function") != "function":
            raise invalid_request(
                "Bedrock supports only function tools.", f"tools[{k}].type"
            )
        function = tool.get("function") or {}
        name = str(function.get("name") or "")
        if not name:
            raise invalid_request("Tools need a name.", f"tools[{k}].function.name")
        names.add(name)
        spec: dict[str, Any] = {
            "name": name,
            "inputSchema": {
                "json": function.get("parameters")
                or {"type": "object", "properties": {}}
            },
        }
        if function.get("description"):
            spec["description"] = str(function["description"])
        specs.append({"toolSpec": spec})
    config: dict[str, Any] = {"tools": specs}
    if choice in (None, "auto"):
        config["toolChoice"] = {"auto": {}}
    elif choice == "required":
        config["toolChoice"] = {"any": {}}
    elif isinstance(choice, dict) and choice.get("type") == "function":
        name = str((choice.get("function") or {}).get("name") or "")
        if name not in names:
            raise invalid_request(
                f"tool_choice names {name!r}, which is not in tools.", "tool_choice"
            )
        config["toolChoice"] = {"tool": {"name": name}}
    else:
        raise invalid_request(
            "Bedrock supports tool_choice none, auto, required or a named function.",
            "tool_choice",
        )
    return config


def build_inference_config(
    cfg: DriverConfig, request: Mapping[str, Any]
) -> dict[str, Any]:
    inference: dict[str, Any] = {}
    max_tokens = request.get("max_completion_tokens") or request.get("max_tokens")
    if max_tokens is None:
        max_tokens = cfg.config.get("default_max_tokens")
    if max_tokens is not None:
        if not isinstance(max_tokens, int) or isinstance(max_tokens, bool):
            raise invalid_request("max_tokens must be an integer.", "max_tokens")
        inference["maxTokens"] = max_tokens
    temperature = request.get("temperature")
    if temperature is not None:
        # Bedrock's range is 0..1; OpenAI's is 0..2: refused, never clamped.
        check_vendor_range(request, "temperature", "Bedrock", 0, 1)
        inference["temperature"] = float(temperature)
    if request.get("top_p") is not None:
        inference["topP"] = float(request["top_p"])
    stop = request.get("stop")
    if isinstance(stop, str):
        stop = [stop]
    if stop:
        sequences = [s for s in stop if isinstance(s, str) and s]
        if sequences:
            inference["stopSequences"] = sequences
    return inference


def build_converse_body(
    cfg: DriverConfig,
    request: Mapping[str, Any],
    images: Mapping[str, tuple[str, str]] | None = None,
) -> dict[str, Any]:
    """The Converse / ConverseStream JSON body for a canonical chat request."""
    if (request.get("n") or 1) != 1:
        raise invalid_request("Bedrock returns a single choice; n must be 1.", "n")
    if request.get("logprobs"):
        raise invalid_request("Bedrock does not return logprobs.", "logprobs")
    response_format = request.get("response_format") or {}
    if isinstance(response_format, dict) and response_format.get("type") not in (
        None,
        "text",
    ):
        # The driver emulates JSON modes before translating (structured.py).
        raise invalid_request(
            "Converse has no response_format; JSON modes are emulated.",
            "response_format",
        )
    messages = request.get("messages")
    if not isinstance(messages, list) or not messages:
        raise invalid_request("messages must be a non-empty array.", "messages")
    tool_config = build_tool_config(request)
    turns, system = build_messages(
        messages, native_tools=tool_config is not None, images=images
    )
    body: dict[str, Any] = {"messages": turns}
    if system:
        body["system"] = system
    inference = build_inference_config(cfg, request)
    if inference:
        body["inferenceConfig"] = inference
    if tool_config is not None:
        body["toolConfig"] = tool_config
    return body


def converse_request(
    cfg: DriverConfig,
    request: Mapping[str, Any],
    model_id: str,
    stream: bool,
    images: Mapping[str, tuple[str, str]] | None = None,
) -> UpstreamRequest:
    """The signed Converse (or ConverseStream) request."""
    body = dumps(build_converse_body(cfg, request, images))
    action = "converse-stream" if stream else "converse"
    accept = EVENT_STREAM if stream else JSON
    return sign_request(cfg, "POST", model_url(cfg, model_id, action), body, accept)
