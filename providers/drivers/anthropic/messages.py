"""Canonical messages → Anthropic ``system`` blocks and ``messages`` turns (pure).

The policies are listed in the package docstring (``providers.drivers.anthropic``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from providers.drivers.canonical import append_turn, parse_tool_arguments
from providers.drivers.errors import invalid_request
from providers.drivers.images import image_url_of

PLACEHOLDER_USER_TEXT = "."


DATA_URL_RE = re.compile(r"^data:([a-z]+/[a-z0-9.+-]+);base64,(.+)$", re.DOTALL)


IMAGE_MEDIA_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})


_TOOL_ID_UNSAFE = re.compile(r"[^a-zA-Z0-9_-]")


def sanitize_tool_id(value: Any) -> str:
    """Deterministic ``[a-zA-Z0-9_-]`` form of a tool-call id."""
    cleaned = _TOOL_ID_UNSAFE.sub("_", str(value or ""))
    return cleaned or "call_"


def _text_block(
    text: Any, part: Mapping[str, Any] | None = None
) -> dict[str, Any] | None:
    if not isinstance(text, str) or not text.strip():
        return None
    block: dict[str, Any] = {"type": "text", "text": text}
    if part is not None and isinstance(part.get("cache_control"), dict):
        block["cache_control"] = dict(part["cache_control"])
    return block


def _text_blocks(
    content: Any, where: str, allowed: tuple[str, ...]
) -> list[dict[str, Any]]:
    """Text blocks from string-or-parts content where only text-like parts fit."""
    if content is None:
        return []
    if isinstance(content, str):
        block = _text_block(content)
        return [block] if block else []
    if not isinstance(content, list):
        raise invalid_request("Content must be a string or an array of parts.", where)
    blocks: list[dict[str, Any]] = []
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
    url = image_url_of(part)
    if not url:
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
    given = part.get("file")
    file: Mapping[str, Any] = given if isinstance(given, dict) else {}
    match = DATA_URL_RE.match(str(file.get("file_data") or ""))
    if not match or match.group(1) != "application/pdf":
        raise invalid_request(
            "Only PDF files sent inline as file_data data URLs are supported.",
            f"{where}.file",
        )
    source = {"type": "base64", "media_type": "application/pdf", "data": match.group(2)}
    return {"type": "document", "source": source}


def _user_blocks(content: Any, where: str) -> list[dict[str, Any]]:
    if content is None or isinstance(content, str):
        return _text_blocks(content, where, ("text",))
    if not isinstance(content, list):
        raise invalid_request("Content must be a string or an array of parts.", where)
    blocks: list[dict[str, Any]] = []
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


def _tool_use_blocks(tool_calls: Any, i: int) -> list[dict[str, Any]]:
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
        parsed = parse_tool_arguments(
            function.get("arguments"), f"{where}.function.arguments"
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
        append_turn(turns, role, blocks)
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
