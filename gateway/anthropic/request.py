"""An Anthropic Messages request as a canonical Chat Completions request (pure).

``to_canonical(body)`` checks the body the way Anthropic does and answers bad
input with a 400 ``DriverError`` whose message names the field in Anthropic's
dotted form (``messages.0.content.1.type: ...``). What it returns is a Chat
Completions body ``gateway.validation.validate_chat`` accepts.

On this translated path: ``thinking`` (unless ``{"type": "disabled"}``, the
default) and the server-side features (server tools, MCP, containers,
output_config.effort, citations, documents by URL or file id) are refused by
name; output_config.format becomes a strict json_schema
response_format; a PDF document becomes a canonical ``file`` part (data
URL) and a plain-text document a text part;
``cache_control`` is dropped (it changes cost, not the answer); ``top_k`` is
dropped as a sampling hint only (no canonical field carries it, and an OpenAI
upstream refuses unknown fields); ``service_tier`` is dropped; thinking blocks
in assistant history are dropped (Anthropic itself strips earlier turns'
thinking from the context).

Roles: consecutive same-role turns are accepted (Anthropic combines them) and
so is an assistant first turn (Anthropic's own API accepts it since late 2024;
only Bedrock still refuses it, and then the vendor's 400 is what the caller
gets). A final assistant turn is sent as the last canonical message: Anthropic
upstreams continue it (prefill), OpenAI-style upstreams answer after it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from providers.drivers.errors import DriverError, invalid_request

MAX_STOP = 4  # what validate_chat (OpenAI's limit) accepts
MAX_TOOLS = 128  # likewise
TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")  # likewise (function names)
IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
TOOL_CHOICES = frozenset({"auto", "any", "tool", "none"})
ERROR_PREFIX = "[tool error] "

# Why a feature is refused here: where it is available instead.
ONLY_NATIVE = (
    "is only available on models served by Anthropic or by Bedrock's Claude, "
    "which take the request as sent; this model's provider is reached through "
    "a translation that has no such feature"
)
# Known fields the translated path refuses (a clear 400 rather than a wrong answer).
UNSUPPORTED = {
    "thinking": f"extended thinking {ONLY_NATIVE}",
    "output_format": f"output_format {ONLY_NATIVE}",
    "mcp_servers": f"MCP servers are not supported: MCP {ONLY_NATIVE}",
    "container": f"containers are not supported: a container {ONLY_NATIVE}",
    "context_management": f"context management {ONLY_NATIVE}",
}
KNOWN = frozenset(
    {
        "model",
        "messages",
        "max_tokens",
        "system",
        "stop_sequences",
        "temperature",
        "top_p",
        "top_k",
        "stream",
        "tools",
        "tool_choice",
        "metadata",
        "service_tier",
        "output_config",
    }
)


def bad(path: str, message: str) -> DriverError:
    """A 400 in Anthropic's wording: ``<dotted.path>: <message>``."""
    return invalid_request(f"{path}: {message}" if path else message, path or None)


def to_canonical(body: dict[str, Any]) -> dict[str, Any]:
    """The Chat Completions request for an Anthropic Messages ``body``."""
    if not isinstance(body, dict):
        raise bad("", "The request body must be a JSON object.")
    for key in body:
        if key == "thinking" and body[key] == {"type": "disabled"}:
            continue  # no thinking: what this path gives anyway
        if key in UNSUPPORTED:
            raise bad(key, UNSUPPORTED[key])
        if key not in KNOWN:
            raise bad(key, "Extra inputs are not permitted")
    out: dict[str, Any] = {"model": _model(body)}
    out["max_tokens"] = _max_tokens(body)
    messages = _system(body.get("system"))
    messages.extend(_messages(body.get("messages")))
    out["messages"] = messages
    _sampling(body, out)
    _stop(body.get("stop_sequences"), out)
    if "tools" in body:
        tools = _tools(body["tools"])
        if tools:
            out["tools"] = tools
    if body.get("tool_choice") is not None:
        _tool_choice(body["tool_choice"], out)
    _metadata(body.get("metadata"), out)
    _output_config(body.get("output_config"), out)
    _service_tier(body.get("service_tier"))
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise bad("stream", "Input should be a valid boolean")
    if stream:
        out["stream"] = True
        out["stream_options"] = {"include_usage": True}
    return out


def check_envelope(body: Any, *, counting: bool = False) -> None:
    """What every Messages body needs, whoever serves it (400 naming the field).

    A JSON object with a model name, ``max_tokens`` (not in a count_tokens
    body), a ``messages`` list and, if given, a boolean ``stream``. The rest
    is checked by the translation, or by the vendor that takes the body as sent.
    """
    if not isinstance(body, dict):
        raise bad("", "The request body must be a JSON object.")
    _model(body)
    if not counting:
        _max_tokens(body)
    messages = body.get("messages")
    if messages is None:
        raise bad("messages", "Field required")
    if not isinstance(messages, list):
        raise bad("messages", "Input should be a valid list")
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise bad("stream", "Input should be a valid boolean")


# -- top-level fields --------------------------------------------------------------


def _model(body: dict[str, Any]) -> str:
    model = body.get("model")
    if model is None:
        raise bad("model", "Field required")
    if not isinstance(model, str) or not model:
        raise bad("model", "Input should be a non-empty string")
    return model


def _max_tokens(body: dict[str, Any]) -> int:
    value = body.get("max_tokens")
    if value is None:
        raise bad("max_tokens", "Field required")
    if not _is_int(value):
        raise bad("max_tokens", "Input should be a valid integer")
    if value < 1:
        raise bad("max_tokens", "Input should be greater than or equal to 1")
    return int(value)


def _sampling(body: dict[str, Any], out: dict[str, Any]) -> None:
    for name in ("temperature", "top_p"):
        value = body.get(name)
        if value is None:
            continue
        if not _is_number(value):
            raise bad(name, "Input should be a valid number")
        if not 0 <= value <= 1:
            raise bad(name, "Input should be between 0 and 1")
        out[name] = value
    top_k = body.get("top_k")
    if top_k is not None:  # validated, then dropped: a sampling hint only
        if not _is_int(top_k):
            raise bad("top_k", "Input should be a valid integer")
        if top_k < 0:
            raise bad("top_k", "Input should be greater than or equal to 0")


def _stop(value: Any, out: dict[str, Any]) -> None:
    if value is None:
        return
    if not isinstance(value, list):
        raise bad("stop_sequences", "Input should be a valid list")
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise bad(f"stop_sequences.{i}", "Input should be a valid string")
        if not item.strip():
            raise bad(
                f"stop_sequences.{i}",
                "each stop sequence must contain non-whitespace",
            )
    if len(value) > MAX_STOP:
        raise bad(
            "stop_sequences",
            f"this gateway accepts at most {MAX_STOP} stop sequences",
        )
    if value:
        out["stop"] = list(value)


def _metadata(value: Any, out: dict[str, Any]) -> None:
    if value is None:
        return
    if not isinstance(value, dict):
        raise bad("metadata", "Input should be a valid dictionary")
    for key in value:
        if key != "user_id":
            raise bad(f"metadata.{key}", "Extra inputs are not permitted")
    user = value.get("user_id")
    if user is None:
        return
    if not isinstance(user, str):
        raise bad("metadata.user_id", "Input should be a valid string")
    if len(user) > 256:
        raise bad("metadata.user_id", "String should have at most 256 characters")
    if user:
        out["user"] = user


def _output_config(value: Any, out: dict[str, Any]) -> None:
    """``format`` (structured output) → a strict ``json_schema`` response_format.

    Anthropic constrains the answer to the schema, as OpenAI's strict mode
    does; ``effort`` has no canonical field that every model accepts: refused.
    """
    if value is None:
        return
    if not isinstance(value, dict):
        raise bad("output_config", "Input should be a valid dictionary")
    for key in value:
        if key == "effort":
            raise bad(
                "output_config.effort",
                f"effort {ONLY_NATIVE}",
            )
        if key != "format":
            raise bad(f"output_config.{key}", "Extra inputs are not permitted")
    spec = value.get("format")
    if spec is None:
        return
    if not isinstance(spec, dict):
        raise bad("output_config.format", "Input should be a valid dictionary")
    if spec.get("type") != "json_schema":
        raise bad("output_config.format.type", "Input should be 'json_schema'")
    for key in spec:
        if key not in ("type", "schema"):
            raise bad(f"output_config.format.{key}", "Extra inputs are not permitted")
    schema = spec.get("schema")
    if not isinstance(schema, dict):
        raise bad("output_config.format.schema", "Input should be a valid dictionary")
    out["response_format"] = {
        "type": "json_schema",
        "json_schema": {"name": "output", "schema": schema, "strict": True},
    }


def _service_tier(value: Any) -> None:
    if value is not None and value not in ("auto", "standard_only"):
        raise bad("service_tier", "Input should be 'auto' or 'standard_only'")


# -- system and messages ------------------------------------------------------------


def _system(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    if isinstance(value, str):
        return [{"role": "system", "content": value}] if value else []
    if not isinstance(value, list):
        raise bad("system", "Input should be a valid string or list of text blocks")
    texts = []
    for i, block in enumerate(value):
        where = f"system.{i}"
        _block_object(block, where)
        if block.get("type") != "text":
            raise bad(f"{where}.type", "Input tag found using 'type' should be 'text'")
        texts.append(_text(block, where))
    return [{"role": "system", "content": "\n\n".join(texts)}] if texts else []


def _messages(value: Any) -> list[dict[str, Any]]:
    """The canonical messages, one run per turn (Anthropic combines same-role runs)."""
    if value is None:
        raise bad("messages", "Field required")
    if not isinstance(value, list):
        raise bad("messages", "Input should be a valid list")
    if not value:
        raise bad("messages", "at least one message is required")
    turns: list[tuple[str, list[tuple[str, Any]]]] = []  # role, [(path, block)]
    last = len(value) - 1
    for i, message in enumerate(value):
        where = f"messages.{i}"
        if not isinstance(message, dict):
            raise bad(where, "Input should be a valid dictionary")
        for key in message:
            if key not in ("role", "content"):
                raise bad(f"{where}.{key}", "Extra inputs are not permitted")
        role = message.get("role")
        if role not in ("user", "assistant"):
            raise bad(f"{where}.role", "Input should be 'user' or 'assistant'")
        content = message.get("content")
        if content is None:
            raise bad(f"{where}.content", "Field required")
        if content == "" or content == []:
            if role == "assistant" and i == last:
                continue  # an empty prefill: nothing to continue from
            raise bad(
                where,
                "all messages must have non-empty content except for the "
                "optional final assistant message",
            )
        if isinstance(content, str):
            items: list[tuple[str, Any]] = [(f"{where}.content", content)]
        elif isinstance(content, list):
            items = [(f"{where}.content.{j}", block) for j, block in enumerate(content)]
            for here, block in items:  # only a string message is a bare string
                _block_object(block, here)
        else:
            raise bad(f"{where}.content", "Input should be a valid string or list")
        if turns and turns[-1][0] == role:
            turns[-1][1].extend(items)
        else:
            turns.append((role, items))
    out: list[dict[str, Any]] = []
    for role, items in turns:
        if len(items) == 1 and isinstance(items[0][1], str):
            out.append({"role": role, "content": items[0][1]})
        elif role == "user":
            out.extend(_user_blocks(items))
        else:
            assistant = _assistant_blocks(items)
            if assistant is not None:
                out.append(assistant)
    _check_tool_pairs(value)
    return out


def _check_tool_pairs(messages: list[dict[str, Any]]) -> None:
    """Each ``tool_use`` answered in the next turn, each ``tool_result`` asked for.

    Anthropic checks this by turn (consecutive same-role messages are one turn);
    checked here too so every vendor behind the gateway gets a paired history.
    """
    turns: list[dict[str, Any]] = []
    seen: set[str] = set()
    for i, message in enumerate(messages):
        if not turns or turns[-1]["role"] != message["role"]:
            turns.append(
                {"role": message["role"], "start": i, "uses": [], "results": []}
            )
        content = message["content"]
        for j, block in enumerate(content if isinstance(content, list) else []):
            if block["type"] == "tool_use":
                if block["id"] in seen:
                    raise bad(
                        f"messages.{i}.content.{j}", "`tool_use` ids must be unique"
                    )
                seen.add(block["id"])
                turns[-1]["uses"].append(block["id"])
            elif block["type"] == "tool_result":
                path = f"messages.{i}.content.{j}"
                turns[-1]["results"].append((path, block["tool_use_id"]))
    for t, turn in enumerate(turns):
        if turn["role"] == "assistant" and turn["uses"] and t + 1 < len(turns):
            answered = {call_id for _, call_id in turns[t + 1]["results"]}
            missing = [call_id for call_id in turn["uses"] if call_id not in answered]
            if missing:
                raise bad(
                    f"messages.{turns[t + 1]['start']}",
                    "`tool_use` ids were found without `tool_result` blocks "
                    f"immediately after: {', '.join(missing)}. Each `tool_use` "
                    "block must have a corresponding `tool_result` block in the "
                    "next message.",
                )
        if turn["role"] == "user":
            asked = set(turns[t - 1]["uses"]) if t else set()
            for path, call_id in turn["results"]:
                if call_id not in asked:
                    raise bad(
                        path,
                        "unexpected `tool_use_id` found in `tool_result` blocks: "
                        f"{call_id}. Each `tool_result` block must have a "
                        "corresponding `tool_use` block in the previous message.",
                    )


def _user_blocks(items: list[tuple[str, Any]]) -> list[dict[str, Any]]:
    """Tool results first (one ``tool`` message each), then the other parts.

    OpenAI-style upstreams want the tool messages right after the assistant's
    calls; Anthropic wants tool results first in the user turn anyway.
    """
    tools: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    for here, block in items:
        if isinstance(block, str):  # a string message merged into the turn
            parts.append({"type": "text", "text": block})
            continue
        _block_object(block, here)
        kind = block.get("type")
        if kind == "text":
            parts.append({"type": "text", "text": _text(block, here)})
        elif kind == "image":
            parts.append(_image(block, here))
        elif kind == "document":
            parts.append(_document(block, here))
        elif kind == "tool_result":
            message, images = _tool_result(block, here)
            tools.append(message)
            parts.extend(images)
        else:
            raise _block_type(kind, here, ("text", "image", "document", "tool_result"))
    out = list(tools)
    if parts:
        out.append({"role": "user", "content": parts})
    return out


def _assistant_blocks(items: list[tuple[str, Any]]) -> dict[str, Any] | None:
    """One assistant message: the text blocks joined, the tool_use blocks as calls."""
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for here, block in items:
        if isinstance(block, str):  # a string message merged into the turn
            texts.append(block)
            continue
        _block_object(block, here)
        kind = block.get("type")
        if kind == "text":
            texts.append(_text(block, here))
        elif kind == "tool_use":
            calls.append(_tool_use(block, here))
        elif kind in ("thinking", "redacted_thinking"):
            continue  # earlier turns' thinking: Anthropic strips it from context too
        else:
            raise _block_type(kind, here, ("text", "tool_use", "thinking"))
    text = "".join(texts)
    if not text and not calls:
        return None
    message: dict[str, Any] = {"role": "assistant", "content": text or None}
    if calls:
        message["tool_calls"] = calls
    return message


# -- content blocks ------------------------------------------------------------------


def _block_object(block: Any, where: str) -> None:
    if not isinstance(block, dict):
        raise bad(where, "Input should be a valid dictionary")
    if "type" not in block:
        raise bad(f"{where}.type", "Field required")


def _block_type(kind: Any, where: str, expected: tuple[str, ...]) -> DriverError:
    names = ", ".join(f"'{name}'" for name in expected)
    return bad(
        f"{where}.type",
        f"Input tag {kind!r} found using 'type' is not supported here "
        f"(expected one of {names})",
    )


def _text(block: dict[str, Any], where: str) -> str:
    text = block.get("text")
    if not isinstance(text, str):
        raise bad(f"{where}.text", "Input should be a valid string")
    if not text:
        raise bad(where, "text content blocks must be non-empty")
    return text


def _image(block: dict[str, Any], where: str) -> dict[str, Any]:
    source = block.get("source")
    if not isinstance(source, dict):
        raise bad(f"{where}.source", "Input should be a valid dictionary")
    kind = source.get("type")
    if kind == "base64":
        media = source.get("media_type")
        if not isinstance(media, str) or media not in IMAGE_TYPES:
            allowed = ", ".join(f"'{t}'" for t in sorted(IMAGE_TYPES))
            raise bad(f"{where}.source.media_type", f"Input should be {allowed}")
        data = source.get("data")
        if not isinstance(data, str) or not data:
            raise bad(f"{where}.source.data", "Input should be a non-empty string")
        url = f"data:{media};base64,{data}"
    elif kind == "url":
        link = source.get("url")
        if not isinstance(link, str) or not link:
            raise bad(f"{where}.source.url", "Input should be a non-empty string")
        url = link
    else:
        raise bad(
            f"{where}.source.type",
            f"Input tag {kind!r} is not supported here (expected 'base64' or 'url')",
        )
    return {"type": "image_url", "image_url": {"url": url}}


def _document(block: dict[str, Any], where: str) -> dict[str, Any]:
    """A PDF as a canonical ``file`` part, plain text as a text part.

    Citations would need citation blocks in the answer, which no canonical
    field carries: refused rather than silently answered without them.
    """
    citations = block.get("citations")
    if isinstance(citations, dict) and citations.get("enabled"):
        raise bad(
            f"{where}.citations",
            f"citations are not supported: citations {ONLY_NATIVE}",
        )
    source = block.get("source")
    if not isinstance(source, dict):
        raise bad(f"{where}.source", "Input should be a valid dictionary")
    kind, data = source.get("type"), source.get("data")
    if kind == "base64":
        if source.get("media_type") != "application/pdf":
            raise bad(f"{where}.source.media_type", "Input should be 'application/pdf'")
        if not isinstance(data, str) or not data:
            raise bad(f"{where}.source.data", "Input should be a non-empty string")
        title = block.get("title")
        name = title if isinstance(title, str) and title else "document.pdf"
        return {
            "type": "file",
            "file": {
                "file_data": f"data:application/pdf;base64,{data}",
                "filename": name,
            },
        }
    if kind == "text":
        if not isinstance(data, str) or not data:
            raise bad(f"{where}.source.data", "Input should be a non-empty string")
        return {"type": "text", "text": data}
    raise bad(
        f"{where}.source.type",
        f"Input tag {kind!r} is not supported here (expected 'base64' or 'text')",
    )


def _tool_use(block: dict[str, Any], where: str) -> dict[str, Any]:
    call_id, name = block.get("id"), block.get("name")
    if not isinstance(call_id, str) or not call_id:
        raise bad(f"{where}.id", "Input should be a non-empty string")
    if not isinstance(name, str) or not name:
        raise bad(f"{where}.name", "Input should be a non-empty string")
    arguments = block.get("input", {})
    if not isinstance(arguments, dict):
        raise bad(f"{where}.input", "Input should be a valid dictionary")
    return {
        "id": call_id,
        "type": "function",
        "function": {
            "name": name,
            "arguments": json.dumps(arguments, ensure_ascii=False),
        },
    }


def _tool_result(
    block: dict[str, Any], where: str
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The ``tool`` message and the result's images (a tool message is text)."""
    call_id = block.get("tool_use_id")
    if not isinstance(call_id, str) or not call_id:
        raise bad(f"{where}.tool_use_id", "Input should be a non-empty string")
    is_error = block.get("is_error", False)
    if not isinstance(is_error, bool):
        raise bad(f"{where}.is_error", "Input should be a valid boolean")
    content = block.get("content", "")
    texts: list[str] = []
    images: list[dict[str, Any]] = []
    if isinstance(content, str):
        texts.append(content)
    elif isinstance(content, list):
        for k, inner in enumerate(content):
            here = f"{where}.content.{k}"
            _block_object(inner, here)
            if inner.get("type") == "text":
                texts.append(_text(inner, here))
            elif inner.get("type") == "image":
                images.append(_image(inner, here))
            else:
                raise _block_type(inner.get("type"), here, ("text", "image"))
    else:
        raise bad(f"{where}.content", "Input should be a valid string or list")
    text = "\n".join(texts)
    if is_error:
        text = ERROR_PREFIX + text
    return {"role": "tool", "tool_call_id": call_id, "content": text}, images


# -- tools ---------------------------------------------------------------------------


def _tools(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise bad("tools", "Input should be a valid list")
    if len(value) > MAX_TOOLS:
        raise bad("tools", f"this gateway accepts at most {MAX_TOOLS} tools")
    out = []
    for i, tool in enumerate(value):
        where = f"tools.{i}"
        if not isinstance(tool, dict):
            raise bad(where, "Input should be a valid dictionary")
        kind = tool.get("type")
        if kind not in (None, "custom"):
            raise bad(
                f"{where}.type",
                f"server tool {kind!r} is not supported: server tools {ONLY_NATIVE}",
            )
        for key in tool:
            if key not in (
                "type",
                "name",
                "description",
                "input_schema",
                "cache_control",
                "strict",
            ):
                raise bad(f"{where}.{key}", "Extra inputs are not permitted")
        name = tool.get("name")
        if not isinstance(name, str) or not name:
            raise bad(f"{where}.name", "Input should be a non-empty string")
        if not TOOL_NAME.match(name):
            raise bad(
                f"{where}.name",
                f"String should match pattern '{TOOL_NAME.pattern}'",
            )
        schema = tool.get("input_schema")
        if schema is None:
            raise bad(f"{where}.input_schema", "Field required")
        if not isinstance(schema, dict) or schema.get("type") != "object":
            raise bad(f"{where}.input_schema.type", "Input should be 'object'")
        function: dict[str, Any] = {"name": name, "parameters": schema}
        description = tool.get("description")
        if description is not None:
            if not isinstance(description, str):
                raise bad(f"{where}.description", "Input should be a valid string")
            function["description"] = description
        strict = tool.get("strict")
        if strict is not None:
            if not isinstance(strict, bool):
                raise bad(f"{where}.strict", "Input should be a valid boolean")
            function["strict"] = strict
        out.append({"type": "function", "function": function})
    return out


def _tool_choice(value: Any, out: dict[str, Any]) -> None:
    if not isinstance(value, dict):
        raise bad("tool_choice", "Input should be a valid dictionary")
    kind = value.get("type")
    if not isinstance(kind, str) or kind not in TOOL_CHOICES:
        raise bad("tool_choice.type", "Input should be 'auto', 'any', 'tool' or 'none'")
    allowed = {"type", "disable_parallel_tool_use"} | (
        {"name"} if kind == "tool" else set()
    )
    if kind == "none":
        allowed = {"type"}
    for key in value:
        if key not in allowed:
            raise bad(f"tool_choice.{key}", "Extra inputs are not permitted")
    choices: dict[str, Callable[[], Any]] = {
        "auto": lambda: "auto",
        "any": lambda: "required",
        "none": lambda: "none",
        "tool": lambda: {"type": "function", "function": {"name": _choice_name(value)}},
    }
    out["tool_choice"] = choices[kind]()
    disable = value.get("disable_parallel_tool_use")
    if disable is not None:
        if not isinstance(disable, bool):
            raise bad(
                "tool_choice.disable_parallel_tool_use",
                "Input should be a valid boolean",
            )
        if disable:
            out["parallel_tool_calls"] = False


def _choice_name(value: dict[str, Any]) -> str:
    name = value.get("name")
    if not isinstance(name, str) or not name:
        raise bad("tool_choice.name", "Field required")
    return name


# -- helpers ---------------------------------------------------------------------------


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
