"""Request translation: canonical chat request → ``/api/chat`` body (pure).

The policies are listed in the package docstring (``providers.drivers.ollama``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from providers.drivers.canonical import parse_tool_arguments
from providers.drivers.config import DriverConfig, UpstreamRequest
from providers.drivers.errors import invalid_request
from providers.drivers.images import image_data_url, image_refs, image_url_of
from providers.drivers.ollama.urls import api_url

_THINK_MAP: dict[str, bool | str] = {
    "none": False,
    "minimal": "low",
    "low": "low",
    "medium": "medium",
    "high": "high",
    "max": "max",
    "xhigh": "max",
}


def _text_of(content: Any, where: str) -> str:
    """Text of a string content or an array of text/refusal parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise invalid_request(f"{where} must be a string or an array.", where)
    texts: list[str] = []
    for j, part in enumerate(content):
        if not isinstance(part, dict):
            raise invalid_request(f"{where}[{j}] must be an object.", f"{where}[{j}]")
        kind = part.get("type")
        if kind == "text":
            texts.append(str(part.get("text") or ""))
        elif kind == "refusal":
            texts.append(str(part.get("refusal") or ""))
        else:
            raise invalid_request(
                f"Content part type {kind!r} is not supported here.",
                f"{where}[{j}].type",
            )
    return "\n".join(t for t in texts if t)


def image_urls(request: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``(param, url)`` of every http(s) image the driver must fetch and inline."""
    return [(param, url) for url, param in image_refs(request)]


def _image_base64(url: str, param: str, fetched: Mapping[str, str]) -> str:
    if url in fetched:
        return fetched[url]
    inline = image_data_url(url, param)
    if inline is not None:
        return inline[1]
    if url.startswith(("http://", "https://")):
        raise invalid_request("The image URL could not be fetched.", param)
    raise invalid_request(
        "Images must be https URLs or data:image/...;base64 URLs.", param
    )


def _user_content(
    content: Any, i: int, fetched: Mapping[str, str]
) -> tuple[str, list[str]]:
    where = f"messages[{i}].content"
    if content is None or isinstance(content, str):
        return content or "", []
    if not isinstance(content, list):
        raise invalid_request(f"{where} must be a string or an array.", where)
    texts: list[str] = []
    images: list[str] = []
    for j, part in enumerate(content):
        if not isinstance(part, dict):
            raise invalid_request(f"{where}[{j}] must be an object.", f"{where}[{j}]")
        kind = part.get("type")
        if kind == "text":
            text = str(part.get("text") or "")
            if text:
                texts.append(text)
        elif kind == "image_url":
            param = f"{where}[{j}].image_url.url"
            images.append(_image_base64(image_url_of(part), param, fetched))
        else:
            raise invalid_request(
                f"Content part type {kind!r} is not supported by Ollama.",
                f"{where}[{j}].type",
            )
    return "\n".join(texts), images


def translate_messages(
    messages: Any, fetched: Mapping[str, str] | None = None
) -> list[dict[str, Any]]:
    """Canonical messages -> Ollama ``messages`` (system/developer stay in place)."""
    fetched = fetched or {}
    if not isinstance(messages, list) or not messages:
        raise invalid_request("messages must be a non-empty array.", "messages")
    out: list[dict[str, Any]] = []
    tool_names: dict[str, str] = {}
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict):
            raise invalid_request(f"messages[{i}] must be an object.", f"messages[{i}]")
        role = msg.get("role")
        where = f"messages[{i}].content"
        if role in ("system", "developer"):
            out.append(
                {"role": "system", "content": _text_of(msg.get("content"), where)}
            )
        elif role == "user":
            text, images = _user_content(msg.get("content"), i, fetched)
            item: dict[str, Any] = {"role": "user", "content": text}
            if images:
                item["images"] = images
            out.append(item)
        elif role == "assistant":
            item = {"role": "assistant", "content": _text_of(msg.get("content"), where)}
            calls = msg.get("tool_calls") or []
            if not isinstance(calls, list):
                raise invalid_request(
                    "tool_calls must be an array.", f"messages[{i}].tool_calls"
                )
            converted = []
            for j, call in enumerate(calls):
                param = f"messages[{i}].tool_calls[{j}]"
                fn = call.get("function") if isinstance(call, dict) else None
                if not isinstance(fn, dict) or not fn.get("name"):
                    raise invalid_request(
                        "Each tool call needs function.name.", f"{param}.function"
                    )
                args = parse_tool_arguments(
                    fn.get("arguments"), f"{param}.function.arguments"
                )
                entry: dict[str, Any] = {
                    "function": {"name": str(fn["name"]), "arguments": args}
                }
                call_id = call.get("id")
                if call_id:
                    entry["id"] = str(call_id)
                    tool_names[str(call_id)] = str(fn["name"])
                converted.append(entry)
            if converted:
                item["tool_calls"] = converted
            out.append(item)
        elif role in ("tool", "function"):
            item = {"role": "tool", "content": _text_of(msg.get("content"), where)}
            if role == "function":
                name = msg.get("name")
            else:
                call_id = str(msg.get("tool_call_id") or "")
                name = tool_names.get(call_id)
                if call_id:
                    item["tool_call_id"] = call_id
            if name:
                item["tool_name"] = str(name)
            out.append(item)
        else:
            raise invalid_request(
                f"Unsupported message role {role!r}.", f"messages[{i}].role"
            )
    return out


def translate_tools(tools: Any) -> list[dict[str, Any]]:
    if not isinstance(tools, list):
        raise invalid_request("tools must be an array.", "tools")
    out = []
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict) or tool.get("type", "function") != "function":
            kind = tool.get("type") if isinstance(tool, dict) else None
            raise invalid_request(
                f"Tool type {kind!r} is not supported by Ollama.", f"tools[{i}].type"
            )
        fn = tool.get("function")
        if not isinstance(fn, dict) or not fn.get("name"):
            raise invalid_request(
                "Each tool needs function.name.", f"tools[{i}].function.name"
            )
        spec: dict[str, Any] = {"name": str(fn["name"])}
        if fn.get("description"):
            spec["description"] = str(fn["description"])
        spec["parameters"] = fn.get("parameters") or {
            "type": "object",
            "properties": {},
        }
        out.append({"type": "function", "function": spec})
    return out


def _select_tools(
    tools: list[dict[str, Any]], choice: Any, lenient: bool
) -> list[dict[str, Any]] | None:
    """The tools to send for ``tool_choice``; None means send none."""
    if choice is None or choice == "auto":
        return tools
    if choice == "none":
        return None
    names: set[str] | None = None
    forced = True
    if isinstance(choice, dict) and choice.get("type") == "function":
        name = (choice.get("function") or {}).get("name")
        names = {str(name)} if name else None
    elif isinstance(choice, dict) and choice.get("type") == "allowed_tools":
        allowed = choice.get("allowed_tools") or {}
        forced = allowed.get("mode", "auto") != "auto"
        names = {
            str((t.get("function") or {}).get("name"))
            for t in allowed.get("tools") or []
            if isinstance(t, dict)
        }
    elif choice != "required":
        raise invalid_request(f"Unknown tool_choice {choice!r}.", "tool_choice")
    if forced and not lenient:
        raise invalid_request(
            "Ollama cannot force a tool call: tool_choice must be 'auto' or 'none'.",
            "tool_choice",
        )
    if names is None:
        return tools
    chosen = [t for t in tools if t["function"]["name"] in names]
    if not chosen:
        raise invalid_request(
            "tool_choice names a function that is not in tools.", "tool_choice"
        )
    return chosen


def _response_format(value: Any) -> str | dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise invalid_request("response_format must be an object.", "response_format")
    kind = value.get("type")
    if kind == "text":
        return None
    if kind == "json_object":
        return "json"
    if kind == "json_schema":
        schema = (value.get("json_schema") or {}).get("schema")
        if not isinstance(schema, dict):
            raise invalid_request(
                "response_format.json_schema.schema must be a JSON Schema object.",
                "response_format.json_schema.schema",
            )
        return schema
    raise invalid_request(
        f"response_format type {kind!r} is not supported by Ollama.",
        "response_format.type",
    )


def build_chat_body(
    cfg: DriverConfig,
    request: Mapping[str, Any],
    model_id: str,
    stream: bool,
    fetched: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The ``/api/chat`` JSON body for a canonical request.

    ``fetched`` maps http(s) image URLs (see ``image_urls``) to their base64 bytes.
    """
    n = request.get("n")
    if n is not None and n != 1:
        raise invalid_request("Ollama returns one choice: n must be 1.", "n")
    if request.get("logprobs"):
        raise invalid_request(
            "logprobs are not supported for Ollama models.", "logprobs"
        )

    body: dict[str, Any] = {
        "model": model_id,
        "messages": translate_messages(request.get("messages"), fetched),
        "stream": bool(stream),
    }

    if request.get("tools"):
        lenient = cfg.config.get("tool_choice_fallback") == "auto"
        tools = _select_tools(
            translate_tools(request["tools"]), request.get("tool_choice"), lenient
        )
        if tools:
            body["tools"] = tools
    elif request.get("tool_choice") not in (None, "none", "auto"):
        raise invalid_request("tool_choice needs tools.", "tool_choice")

    options: dict[str, Any] = dict(cfg.config.get("options") or {})
    max_tokens = request.get("max_completion_tokens")
    if max_tokens is None:
        max_tokens = request.get("max_tokens")
    if max_tokens is not None:
        options["num_predict"] = max_tokens
    for key in (
        "temperature",
        "top_p",
        "seed",
        "presence_penalty",
        "frequency_penalty",
    ):
        if request.get(key) is not None:
            options[key] = request[key]
    stop = request.get("stop")
    if isinstance(stop, str):
        options["stop"] = [stop]
    elif isinstance(stop, list) and stop:
        options["stop"] = [str(s) for s in stop]
    if options:
        body["options"] = options

    fmt = _response_format(request.get("response_format"))
    if fmt is not None:
        body["format"] = fmt

    effort = request.get("reasoning_effort")
    if effort is not None:
        if effort not in _THINK_MAP:
            raise invalid_request(
                f"Unknown reasoning_effort {effort!r}.", "reasoning_effort"
            )
        body["think"] = _THINK_MAP[effort]

    keep_alive = cfg.config.get("keep_alive")
    if keep_alive is not None:
        body["keep_alive"] = keep_alive
    return body


def build_chat_request(
    cfg: DriverConfig,
    request: Mapping[str, Any],
    model_id: str,
    stream: bool,
    headers: Mapping[str, str] | None = None,
    fetched: Mapping[str, str] | None = None,
) -> UpstreamRequest:
    return UpstreamRequest(
        "POST",
        api_url(cfg, "chat"),
        {**(headers or {}), "Content-Type": "application/json"},
        json=build_chat_body(cfg, request, model_id, stream, fetched),
    )


def placeholder_images(request: Mapping[str, Any]) -> dict[str, str]:
    """Stand-in bytes for http(s) images so the request can be validated first."""
    return {url: "" for url, _ in image_refs(request)}
