"""Request translation: canonical chat request → ``/v1/messages`` body (pure).

Tools, tool choice, sampling parameters and output format; the messages
themselves are translated by ``messages``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from providers.drivers.anthropic.messages import has_tool_blocks, translate_messages
from providers.drivers.anthropic.urls import messages_url, request_headers
from providers.drivers.config import DriverConfig, UpstreamRequest
from providers.drivers.errors import check_vendor_range, invalid_request
from providers.drivers.structured import json_schema_of

DEFAULT_MAX_TOKENS = 4096


MAX_TEMPERATURE = 1.0


# Claude generations with structured outputs (``output_config.format``):
# Opus 4.1, and every 4.5 model or later (Sonnet 4.5, Haiku 4.5, Opus 4.5…).
_CLAUDE_VERSION_RE = re.compile(
    r"claude-(opus|sonnet|haiku)-(\d+)(?:-(\d{1,2}))?(?!\d)"
)


def has_structured_outputs(model_id: str) -> bool:
    """Whether the Claude model takes ``output_config.format`` (json_schema)."""
    match = _CLAUDE_VERSION_RE.search(model_id)
    if match is None:
        return False
    family, major, minor = match.group(1), int(match.group(2)), match.group(3)
    version = (major, int(minor or 0))
    return version >= (4, 5) or (family == "opus" and version >= (4, 1))


NOOP_TOOL: dict[str, Any] = {
    "name": "noop",
    "description": (
        "Placeholder declared because the conversation contains tool calls; "
        "it does nothing and must not be called."
    ),
    "input_schema": {"type": "object", "properties": {}},
}


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
        if output_format is not None:
            body["output_config"] = {"format": output_format}
    if system:
        body["system"] = system
    body["messages"] = messages

    temperature = _number_param(request, "temperature")
    top_p = _number_param(request, "top_p")
    check_vendor_range(request, "temperature", "Anthropic", 0, MAX_TEMPERATURE)
    if temperature is not None:
        body["temperature"] = temperature
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


def _output_format(response_format: Any) -> dict[str, Any] | None:
    """``output_config.format`` for a json_schema request; json_object (and
    json_schema on models without structured outputs) never get here: the
    driver emulates them (``structured.py``)."""
    kind = response_format.get("type") if isinstance(response_format, dict) else None
    if kind == "text":
        return None
    if kind == "json_schema":
        return {"type": "json_schema", "schema": json_schema_of(response_format)}
    raise invalid_request(
        "response_format type must be text or json_schema here.",
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
