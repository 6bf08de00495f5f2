"""A canonical chat request as an OpenAI Responses create body (pure).

Providers whose ``wire_api`` is ``responses`` are called at ``POST /responses``
instead of ``/chat/completions``. The canonical request (Chat Completions) is
rewritten field by field: leading system/developer messages become
``instructions`` (later ones stay developer/system messages), user parts become
``input_text`` / ``input_image`` / ``input_file``, assistant text an assistant
message of ``output_text``, tool calls ``function_call`` items (their ids kept
as ``call_id``) and tool results ``function_call_output`` items. Tools are
flattened (``{type, name, description, parameters, strict}``; ``strict`` is
always sent, since Responses defaults it to true where Chat Completions
defaults it to false). What Responses cannot express (``stop``, ``n`` > 1,
penalties, logit bias, logprobs, audio, ``seed``...) is refused with a 400
naming the field, never dropped. ``store`` is always false: the gateway keeps
conversation state itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from providers.drivers.config import DriverConfig
from providers.drivers.errors import DriverError, invalid_request
from providers.drivers.vendor import WIRE_APIS

CHAT_COMPLETIONS, RESPONSES = WIRE_APIS

# Canonical fields copied under the same name.
SAME_NAME = (
    "temperature",
    "top_p",
    "parallel_tool_calls",
    "metadata",
    "user",
    "safety_identifier",
    "prompt_cache_key",
    "service_tier",
)
# Canonical fields handled below, or meaningless upstream (the gateway's own).
HANDLED = frozenset(
    {
        "model",
        "messages",
        "stream",
        "stream_options",
        "tools",
        "tool_choice",
        "max_tokens",
        "max_completion_tokens",
        "response_format",
        "reasoning_effort",
        "verbosity",
        "stop",
        "n",
        "store",
        *SAME_NAME,
    }
)
# Fields with no Responses counterpart: refused when they would change the answer.
REFUSED = {
    "seed": "Responses providers take no 'seed'.",
    "presence_penalty": "Responses providers take no 'presence_penalty'.",
    "frequency_penalty": "Responses providers take no 'frequency_penalty'.",
    "logit_bias": "Responses providers take no 'logit_bias'.",
    "logprobs": "Responses providers return no log probabilities here.",
    "top_logprobs": "Responses providers return no log probabilities here.",
    "modalities": "Responses providers answer text only here ('modalities').",
    "audio": "Responses providers answer text only here ('audio').",
    "prediction": "Responses providers take no predicted output ('prediction').",
    "web_search_options": "Use /v1/responses with the web_search tool instead.",
    "functions": "Legacy 'functions' are not supported: use 'tools'.",
    "function_call": "Legacy 'function_call' is not supported: use 'tool_choice'.",
}


def wire_api(cfg: DriverConfig) -> str:
    """The provider's upstream protocol (provider config ``wire_api``)."""
    value = str(cfg.config.get("wire_api") or CHAT_COMPLETIONS)
    if value not in WIRE_APIS:
        raise DriverError(
            f"wire_api must be 'chat_completions' or 'responses', not {value!r}.",
            status=502,
            code="provider_misconfigured",
        )
    return value


def uses_responses(cfg: DriverConfig) -> bool:
    return wire_api(cfg) == RESPONSES


def build_responses_body(
    request: Mapping[str, Any], model_id: str, stream: bool
) -> dict[str, Any]:
    """The Responses create body for a canonical chat ``request``."""
    _refuse_unexpressible(request)
    body: dict[str, Any] = {"model": model_id}
    instructions, items = input_items(request.get("messages") or [])
    if instructions is not None:
        body["instructions"] = instructions
    body["input"] = items
    for name in SAME_NAME:
        if request.get(name) is not None:
            body[name] = request[name]
    limit = request.get("max_completion_tokens")
    if limit is None:
        limit = request.get("max_tokens")
    if limit is not None:
        body["max_output_tokens"] = limit
    if request.get("tools"):
        body["tools"] = [_tool(t, i) for i, t in enumerate(request["tools"])]
    if request.get("tool_choice") is not None:
        body["tool_choice"] = _tool_choice(request["tool_choice"])
    text = _text_config(request)
    if text:
        body["text"] = text
    if request.get("reasoning_effort") is not None:
        body["reasoning"] = {"effort": request["reasoning_effort"]}
    body["store"] = False
    if stream:
        body["stream"] = True
    return body


def _refuse_unexpressible(request: Mapping[str, Any]) -> None:
    for name, message in REFUSED.items():
        if request.get(name) not in (None, False, [], {}):
            raise invalid_request(message, name)
    if request.get("stop") not in (None, "", []):
        raise invalid_request(
            "This provider uses the Responses API, which has no stop sequences.",
            "stop",
        )
    if (request.get("n") or 1) > 1:
        raise invalid_request(
            "This provider uses the Responses API, which returns one choice (n=1).",
            "n",
        )
    unknown = [k for k in request if k not in HANDLED and k not in REFUSED]
    if unknown:
        raise invalid_request(
            f"Responses providers do not take '{unknown[0]}'.", unknown[0]
        )


# -- messages -> items -------------------------------------------------------------


def input_items(messages: list[Any]) -> tuple[str | None, list[dict[str, Any]]]:
    """``(instructions, input items)``: the leading system/developer text is the
    instructions; every other message becomes one or more items."""
    leading: list[str] = []
    position = 0
    while position < len(messages) and messages[position].get("role") in (
        "system",
        "developer",
    ):
        leading.append(_plain_text(messages[position], f"messages[{position}]"))
        position += 1
    items: list[dict[str, Any]] = []
    for i in range(position, len(messages)):
        items.extend(_items(messages[i], f"messages[{i}]"))
    return ("\n\n".join(leading) if leading else None), items


def _items(message: Mapping[str, Any], where: str) -> list[dict[str, Any]]:
    role = message.get("role")
    if role in ("system", "developer"):
        text = _plain_text(message, where)
        return [_message(role, [{"type": "input_text", "text": text}])]
    if role == "user":
        return [_message("user", _user_parts(message.get("content"), where))]
    if role == "assistant":
        return _assistant(message, where)
    if role == "tool":
        return [
            {
                "type": "function_call_output",
                "call_id": message["tool_call_id"],
                "output": _plain_text(message, where),
            }
        ]
    raise invalid_request(
        f"Messages with role {role!r} are not supported: use 'tool'.", f"{where}.role"
    )


def _message(role: str, content: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "message", "role": role, "content": content}


def _plain_text(message: Mapping[str, Any], where: str) -> str:
    content = message.get("content")
    if content is None or isinstance(content, str):
        return content or ""
    texts = []
    for j, part in enumerate(content):
        if part.get("type") != "text":
            raise invalid_request(
                "Only text parts are allowed here.", f"{where}.content[{j}].type"
            )
        texts.append(part["text"])
    return "".join(texts)


def _user_parts(content: Any, where: str) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "input_text", "text": content}]
    parts = []
    for j, part in enumerate(content or ()):
        kind = part.get("type")
        if kind == "text":
            parts.append({"type": "input_text", "text": part["text"]})
        elif kind == "image_url":
            image = part["image_url"]
            parts.append(
                {
                    "type": "input_image",
                    "image_url": image["url"],
                    "detail": image.get("detail") or "auto",
                }
            )
        elif kind == "file":
            file = part.get("file") or {}
            keys = ("file_data", "file_id", "filename")
            parts.append(
                {"type": "input_file", **{k: file[k] for k in keys if k in file}}
            )
        else:
            raise invalid_request(
                f"Responses providers take no {kind!r} parts.",
                f"{where}.content[{j}].type",
            )
    return parts


def _assistant(message: Mapping[str, Any], where: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    content = message.get("content")
    parts: list[dict[str, Any]] = []
    if isinstance(content, str) and content:
        parts.append({"type": "output_text", "text": content, "annotations": []})
    elif isinstance(content, list):
        for part in content:
            if part.get("type") == "refusal":
                parts.append({"type": "refusal", "refusal": part["refusal"]})
            elif part.get("text"):
                text = part["text"]
                parts.append({"type": "output_text", "text": text, "annotations": []})
    if message.get("refusal"):
        parts.append({"type": "refusal", "refusal": message["refusal"]})
    if parts:
        items.append(_message("assistant", parts))
    for call in message.get("tool_calls") or ():
        function = call.get("function") or {}
        items.append(
            {
                "type": "function_call",
                "call_id": call["id"],
                "name": function.get("name") or "",
                "arguments": function.get("arguments") or "{}",
            }
        )
    return items


# -- tools, tool choice, text format --------------------------------------------------


def _tool(tool: Mapping[str, Any], index: int) -> dict[str, Any]:
    function = tool.get("function")
    if tool.get("type") != "function" or not isinstance(function, Mapping):
        raise invalid_request(
            "Only function tools can be sent to this provider.", f"tools[{index}].type"
        )
    out: dict[str, Any] = {"type": "function", "name": function["name"]}
    if function.get("description") is not None:
        out["description"] = function["description"]
    out["parameters"] = function.get("parameters") or {
        "type": "object",
        "properties": {},
    }
    out["strict"] = bool(function.get("strict"))
    return out


def _tool_choice(choice: Any) -> Any:
    if isinstance(choice, str):
        return choice
    if choice.get("type") == "function":
        return {"type": "function", "name": choice["function"]["name"]}
    if choice.get("type") == "allowed_tools":
        allowed = choice.get("allowed_tools") or {}
        return {
            "type": "allowed_tools",
            "mode": allowed.get("mode", "auto"),
            "tools": [
                {"type": "function", "name": t["function"]["name"]}
                for t in allowed.get("tools") or ()
                if isinstance(t.get("function"), Mapping)
            ],
        }
    raise invalid_request("This tool_choice cannot be sent here.", "tool_choice")


def _text_config(request: Mapping[str, Any]) -> dict[str, Any]:
    text: dict[str, Any] = {}
    fmt = request.get("response_format")
    if fmt:
        if fmt.get("type") == "json_schema":
            schema = fmt.get("json_schema") or {}
            text["format"] = {"type": "json_schema", **schema}
        else:
            text["format"] = {"type": fmt["type"]}
    if request.get("verbosity") is not None:
        text["verbosity"] = request["verbosity"]
    return text
