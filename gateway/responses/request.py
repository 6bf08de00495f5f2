"""A Responses create body as a canonical Chat Completions request (pure).

``to_canonical(body, history)`` checks the body the way OpenAI does and
answers bad input with a 400 naming the field (``input[2].content[0].type``);
what it returns is a body ``gateway.validation.validate_chat`` accepts.
``history`` holds the items of the earlier turns (``previous_response_id``,
resolved by the caller), in the same item shapes as ``input``; they come first.

On this translated path: built-in tools and built-in tool choices, stored
prompts, conversations, background mode, item references, file ids and
reasoning summaries are refused by name (they need OpenAI's own Responses
service); ``reasoning`` items are dropped (their summaries and encrypted
content are OpenAI's, no canonical field takes them); ``metadata``, ``store``,
``truncation`` and ``include`` are checked and kept for the caller (echoed or
acted on by the gateway), never sent upstream.

``input_items(body)`` lists the request's input the way
``GET /v1/responses/{id}/input_items`` does: every item with an id and a type,
messages with their parts and ``status: "completed"``. It expects a body
``to_canonical`` accepted.
"""

from __future__ import annotations

import re
from typing import Any

from gateway.errors import GatewayError, bad_request
from gateway.fields import (
    Fields,
    check_array,
    check_model,
    check_object,
    out_of_range,
    wrong,
)
from gateway.responses.ids import new_id
from gateway.validation import MAX_TOOLS

_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_PDF_DATA_URL = re.compile(r"^data:application/pdf;base64,(.+)$", re.DOTALL)
ROLES = frozenset({"user", "assistant", "system", "developer"})
DETAILS = frozenset({"auto", "low", "high"})
EFFORTS = frozenset({"none", "minimal", "low", "medium", "high", "xhigh"})
VERBOSITIES = frozenset({"low", "medium", "high"})
INCLUDABLE = frozenset(
    {
        "file_search_call.results",
        "web_search_call.results",
        "web_search_call.action.sources",
        "message.input_image.image_url",
        "computer_call_output.output.image_url",
        "code_interpreter_call.outputs",
        "reasoning.encrypted_content",
        "message.output_text.logprobs",
    }
)
ONLY_RESPONSES = "is only available on providers that use OpenAI's Responses API"

# Known fields this path refuses when set (they need OpenAI's own service).
REFUSED = {
    "background": "Background mode is not supported by this gateway.",
    "conversation": "Conversations are not supported by this gateway; "
    "use 'previous_response_id' or send the items.",
    "prompt": "Stored prompts are not supported by this gateway.",
    "max_tool_calls": f"'max_tool_calls' {ONLY_RESPONSES}.",
    "top_logprobs": f"'top_logprobs' {ONLY_RESPONSES}.",
}
KNOWN = frozenset(
    {
        "model",
        "input",
        "instructions",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "max_output_tokens",
        "temperature",
        "top_p",
        "text",
        "reasoning",
        "metadata",
        "store",
        "truncation",
        "include",
        "user",
        "safety_identifier",
        "prompt_cache_key",
        "service_tier",
        "stream",
        "stream_options",
        "previous_response_id",
    }
)
# Sent upstream as they are: the canonical format has the same field.
SAME = ("user", "safety_identifier", "prompt_cache_key", "service_tier")


def to_canonical(
    body: dict[str, Any], history: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The Chat Completions request for a Responses create ``body``."""
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object.")
    _check_fields(body)
    out: dict[str, Any] = {"model": check_model(body.get("model"))}
    messages: list[dict[str, Any]] = []
    instructions = body.get("instructions")
    if instructions is not None:
        if not isinstance(instructions, str):
            raise wrong("instructions", "a string", instructions)
        if instructions:
            messages.append({"role": "system", "content": instructions})
    items = list(history or []) + _input_list(body.get("input"))
    messages.extend(_Items(len(history or [])).convert(items))
    if not any(m["role"] != "system" for m in messages):
        raise bad_request(
            "Missing required parameter: 'input'.",
            "input",
            "missing_required_parameter",
        )
    out["messages"] = messages
    f = Fields(body, "")
    f.integer("max_output_tokens", 16)
    if body.get("max_output_tokens") is not None:
        out["max_tokens"] = body["max_output_tokens"]
    f.number("temperature", 0, 2)
    f.number("top_p", 0, 1)
    for name in ("temperature", "top_p"):
        if body.get(name) is not None:
            out[name] = body[name]
    tools = _tools(body.get("tools"))
    if tools:
        out["tools"] = tools
    if body.get("tool_choice") is not None:
        out["tool_choice"] = _tool_choice(body["tool_choice"])
    f.boolean("parallel_tool_calls")
    if body.get("parallel_tool_calls") is not None:
        out["parallel_tool_calls"] = body["parallel_tool_calls"]
    _text(body.get("text"), out)
    _reasoning(body.get("reasoning"), out)
    for name in SAME:
        f.string(name)
        if body.get(name) is not None:
            out[name] = body[name]
    _kept(body)
    f.boolean("stream")
    f.get("stream_options", _stream_options)
    if body.get("stream"):
        out["stream"] = True
        out["stream_options"] = {"include_usage": True}
    return out


def _check_fields(body: dict[str, Any]) -> None:
    for key, value in body.items():
        if key in REFUSED:
            if not value:  # null, false, 0: the feature is not asked for
                continue
            raise bad_request(REFUSED[key], key, "unsupported_parameter")
        if key not in KNOWN:
            raise bad_request(f"Unknown parameter: '{key}'.", key, "unknown_parameter")


def _kept(body: dict[str, Any]) -> None:
    """Fields the gateway keeps for itself: checked here, never sent upstream."""
    f = Fields(body, "")
    f.get("metadata", _metadata)
    f.boolean("store")
    f.choice("truncation", frozenset({"auto", "disabled"}))
    f.get("include", _include)
    f.string("previous_response_id")


def _metadata(value: Any, where: str) -> None:
    check_object(value, where)
    if len(value) > 16:
        raise out_of_range(where, "may have at most 16 keys")
    for name, item in value.items():
        if len(name) > 64:
            raise out_of_range(f"{where}.{name}", "keys have at most 64 characters")
        if not isinstance(item, str):
            raise wrong(f"{where}.{name}", "a string", item)
        if len(item) > 512:
            raise out_of_range(f"{where}.{name}", "values have at most 512 characters")


def _include(value: Any, where: str) -> None:
    for i, item in enumerate(check_array(value, where)):
        if not isinstance(item, str) or item not in INCLUDABLE:
            raise out_of_range(
                f"{where}[{i}]", f"must be one of {', '.join(sorted(INCLUDABLE))}"
            )


def _stream_options(value: Any, where: str) -> None:
    check_object(value, where)
    for key in value:
        if key != "include_obfuscation":
            raise bad_request(
                f"Unknown parameter: '{where}.{key}'.",
                f"{where}.{key}",
                "unknown_parameter",
            )
    Fields(value, where).boolean("include_obfuscation")


# -- input items --------------------------------------------------------------------


def _input_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, str):
        return [{"type": "message", "role": "user", "content": value}]
    return check_array(value, "input")


def _item_type(item: Any, where: str) -> str:
    if not isinstance(item, dict):
        raise wrong(where, "an object", item)
    kind = item.get("type", "message" if "role" in item else None)
    if kind is None:
        raise bad_request(
            f"Missing required parameter: '{where}.type'.",
            f"{where}.type",
            "missing_required_parameter",
        )
    if not isinstance(kind, str):
        raise wrong(f"{where}.type", "a string", kind)
    return kind


class _Items:
    """Converts a run of items to canonical messages, in order.

    Consecutive ``function_call`` items (and an assistant message right
    before them) are one assistant message with ``tool_calls``; the images of
    function call outputs follow the tool messages as one user message (a
    tool message carries text only).
    """

    def __init__(self, history: int) -> None:
        self.history = history  # how many leading items came from history
        self.out: list[dict[str, Any]] = []
        self.calls: set[str] = set()
        self.assistant: dict[str, Any] | None = None  # open for tool_calls
        self.pending: list[dict[str, Any]] = []  # tool-output images

    def path(self, i: int) -> str:
        # Items of earlier turns were valid when stored; name the caller's own.
        if i < self.history:
            return f"previous_response_id (item {i})"
        return f"input[{i - self.history}]"

    def convert(self, items: list[Any]) -> list[dict[str, Any]]:
        for i, item in enumerate(items):
            where = self.path(i)
            kind = _item_type(item, where)
            if kind != "function_call_output":
                self._flush()
            if kind == "message":
                self._message(item, where)
            elif kind == "function_call":
                self._function_call(item, where)
            elif kind == "function_call_output":
                self._function_call_output(item, where)
            elif kind == "reasoning":
                continue  # no canonical field takes a reasoning item
            elif kind == "item_reference":
                raise bad_request(
                    "Item references are not supported by this gateway; "
                    "send the item itself.",
                    f"{where}.type",
                )
            else:
                raise bad_request(
                    f"Input items of type '{kind}' {ONLY_RESPONSES}.",
                    f"{where}.type",
                )
        self._flush()
        return self.out

    def _flush(self) -> None:
        if self.pending:
            self.out.append({"role": "user", "content": self.pending})
            self.pending = []

    def _message(self, item: dict[str, Any], where: str) -> None:
        f = Fields(item, where)
        f.string("role", required=True)
        f.choice("role", ROLES)
        role = item["role"]
        content = item.get("content")
        if content is None:
            f.string("content", required=True)
        if role == "assistant":
            message = _assistant(content, f.path("content"))
            self.out.append(message)
            self.assistant = message
            return
        self.assistant = None
        if isinstance(content, str):
            self.out.append({"role": role, "content": content})
            return
        parts = [
            _part(part, role, f"{where}.content[{j}]")
            for j, part in enumerate(check_array(content, f.path("content")))
        ]
        self.out.append({"role": role, "content": parts})

    def _function_call(self, item: dict[str, Any], where: str) -> None:
        f = Fields(item, where)
        for name in ("call_id", "name", "arguments"):
            f.string(name, required=True)
        call = {
            "id": item["call_id"],
            "type": "function",
            "function": {"name": item["name"], "arguments": item["arguments"]},
        }
        self.calls.add(item["call_id"])
        if self.assistant is None:
            self.assistant = {"role": "assistant", "content": None}
            self.out.append(self.assistant)
        self.assistant.setdefault("tool_calls", []).append(call)

    def _function_call_output(self, item: dict[str, Any], where: str) -> None:
        self.assistant = None
        f = Fields(item, where)
        f.string("call_id", required=True)
        call_id = item["call_id"]
        if call_id not in self.calls:
            raise bad_request(
                f"No tool call found for function call output with call_id {call_id}.",
                f"{where}.call_id",
            )
        output = item.get("output")
        if output is None:
            f.string("output", required=True)
        if isinstance(output, str):
            text = output
        else:
            texts = []
            for j, part in enumerate(check_array(output, f.path("output"))):
                converted = _part(part, "user", f"{where}.output[{j}]")
                if converted["type"] == "text":
                    texts.append(converted["text"])
                else:
                    self.pending.append(converted)
            text = "\n".join(texts)
        self.out.append({"role": "tool", "tool_call_id": call_id, "content": text})


def _assistant(content: Any, where: str) -> dict[str, Any]:
    """An assistant message: its output_text parts joined, a refusal kept as one."""
    if isinstance(content, str):
        return {"role": "assistant", "content": content}
    texts: list[str] = []
    refusals: list[str] = []
    for j, part in enumerate(check_array(content, where)):
        here = f"{where}[{j}]"
        kind = _item_type(part, here)
        f = Fields(part, here)
        if kind in ("output_text", "input_text"):
            f.string("text", required=True)
            texts.append(part["text"])
        elif kind == "refusal":
            f.string("refusal", required=True)
            refusals.append(part["refusal"])
        else:
            raise _part_type(kind, here, ("output_text", "refusal"))
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts)}
    if refusals:
        message["refusal"] = "".join(refusals)
    return message


def _part(part: Any, role: str, where: str) -> dict[str, Any]:
    kind = _item_type(part, where)
    f = Fields(part, where)
    if kind == "input_text":
        f.string("text", required=True)
        return {"type": "text", "text": part["text"]}
    if role not in ("user", "tool"):
        raise _part_type(kind, where, ("input_text",))
    if kind == "input_image":
        return _image(part, where)
    if kind == "input_file":
        return _file(part, where)
    raise _part_type(kind, where, ("input_text", "input_image", "input_file"))


def _part_type(kind: str, where: str, expected: tuple[str, ...]) -> GatewayError:
    names = ", ".join(f"'{name}'" for name in expected)
    return bad_request(
        f"Invalid value: '{kind}'. Supported values are: {names}.", f"{where}.type"
    )


def _image(part: dict[str, Any], where: str) -> dict[str, Any]:
    f = Fields(part, where)
    if part.get("file_id") is not None:
        raise bad_request(
            f"Images by file id {ONLY_RESPONSES}; send 'image_url' (a URL or a "
            "data URL) instead.",
            f"{where}.file_id",
        )
    f.string("image_url", required=True)
    if not part["image_url"]:
        raise out_of_range(f.path("image_url"), "must not be empty")
    f.choice("detail", DETAILS)
    image: dict[str, Any] = {"url": part["image_url"]}
    if part.get("detail") is not None:
        image["detail"] = part["detail"]
    return {"type": "image_url", "image_url": image}


def _file(part: dict[str, Any], where: str) -> dict[str, Any]:
    """A base64 PDF as the canonical ``file`` part (a data URL, as OpenAI takes)."""
    f = Fields(part, where)
    for name in ("file_id", "file_url"):
        if part.get(name) is not None:
            raise bad_request(
                f"Files by '{name}' {ONLY_RESPONSES}; send 'file_data' instead.",
                f"{where}.{name}",
            )
    f.string("file_data", required=True)
    f.string("filename")
    data = part["file_data"]
    match = _PDF_DATA_URL.match(data)
    if match is None and data.startswith("data:"):
        raise out_of_range(
            f.path("file_data"), "only PDF files (data:application/pdf;base64,...)"
        )
    payload = match.group(1) if match else data
    if not payload:
        raise out_of_range(f.path("file_data"), "must not be empty")
    return {
        "type": "file",
        "file": {
            "file_data": f"data:application/pdf;base64,{payload}",
            "filename": part.get("filename") or "document.pdf",
        },
    }


# -- tools, text, reasoning ------------------------------------------------------


def _tools(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    out = []
    for i, tool in enumerate(check_array(value, "tools", high=MAX_TOOLS)):
        where = f"tools[{i}]"
        kind = _item_type(tool, where)
        if kind != "function":
            raise bad_request(
                f"Tools of type '{kind}' {ONLY_RESPONSES}.", f"{where}.type"
            )
        f = Fields(tool, where)
        f.string("name", required=True)
        if not _TOOL_NAME.match(tool["name"]):
            raise out_of_range(f.path("name"), "must match ^[a-zA-Z0-9_-]{1,64}$")
        f.string("description")
        f.obj_field("parameters")
        f.boolean("strict")
        for key in tool:
            if key not in ("type", "name", "description", "parameters", "strict"):
                raise bad_request(
                    f"Unknown parameter: '{where}.{key}'.",
                    f"{where}.{key}",
                    "unknown_parameter",
                )
        function: dict[str, Any] = {"name": tool["name"]}
        for key in ("description", "parameters", "strict"):
            if tool.get(key) is not None:
                function[key] = tool[key]
        out.append({"type": "function", "function": function})
    return out


def _tool_choice(value: Any) -> Any:
    if isinstance(value, str):
        if value not in ("none", "auto", "required"):
            raise out_of_range(
                "tool_choice", "must be none, auto, required or an object"
            )
        return value
    kind = _item_type(value, "tool_choice")
    if kind == "function":
        Fields(value, "tool_choice").string("name", required=True)
        return {"type": "function", "function": {"name": value["name"]}}
    if kind == "allowed_tools":
        f = Fields(value, "tool_choice")
        f.choice("mode", frozenset({"auto", "required"}))
        tools = []
        for i, tool in enumerate(check_array(value.get("tools"), "tool_choice.tools")):
            where = f"tool_choice.tools[{i}]"
            tool_kind = _item_type(tool, where)
            if tool_kind != "function":
                raise bad_request(
                    f"Tools of type '{tool_kind}' {ONLY_RESPONSES}.",
                    f"{where}.type",
                )
            Fields(tool, where).string("name", required=True)
            tools.append({"type": "function", "function": {"name": tool["name"]}})
        return {
            "type": "allowed_tools",
            "allowed_tools": {"mode": value.get("mode") or "auto", "tools": tools},
        }
    raise bad_request(
        f"Tool choice of type '{kind}' {ONLY_RESPONSES}.", "tool_choice.type"
    )


def _text(value: Any, out: dict[str, Any]) -> None:
    """``text.format`` → ``response_format``; ``verbosity`` as the canonical field."""
    if value is None:
        return
    check_object(value, "text")
    f = Fields(value, "text")
    f.choice("verbosity", VERBOSITIES)
    if value.get("verbosity") is not None:
        out["verbosity"] = value["verbosity"]
    spec = value.get("format")
    if spec is None:
        return
    kind = _item_type(spec, "text.format")
    g = Fields(spec, "text.format")
    if kind in ("text", "json_object"):
        out["response_format"] = {"type": kind}
        return
    if kind != "json_schema":
        raise _part_type(kind, "text.format", ("text", "json_object", "json_schema"))
    g.string("name", required=True)
    g.string("description")
    g.boolean("strict")
    if spec.get("schema") is None:
        g.obj_field("schema")
        raise bad_request(
            "Missing required parameter: 'text.format.schema'.",
            "text.format.schema",
            "missing_required_parameter",
        )
    g.obj_field("schema")
    schema: dict[str, Any] = {"name": spec["name"], "schema": spec["schema"]}
    for key in ("description", "strict"):
        if spec.get(key) is not None:
            schema[key] = spec[key]
    out["response_format"] = {"type": "json_schema", "json_schema": schema}


def _reasoning(value: Any, out: dict[str, Any]) -> None:
    if value is None:
        return
    check_object(value, "reasoning")
    for key in ("summary", "generate_summary"):
        if value.get(key) is not None:
            raise bad_request(
                f"reasoning.{key} is not supported for this model.",
                f"reasoning.{key}",
                "unsupported_parameter",
            )
    for key in value:
        if key not in ("effort", "summary", "generate_summary"):
            raise bad_request(
                f"Unknown parameter: 'reasoning.{key}'.",
                f"reasoning.{key}",
                "unknown_parameter",
            )
    Fields(value, "reasoning").choice("effort", EFFORTS)
    if value.get("effort") is not None:
        out["reasoning_effort"] = value["effort"]


# -- input items as listed ------------------------------------------------------


def input_items(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The request's input as ``GET /v1/responses/{id}/input_items`` lists it.

    Given ids are kept; a message without one gets ``msg_…``, a function call
    ``fc_…``, a function call output ``fc_…`` too (OpenAI lists its outputs
    under the ids it minted, and a caller's own ids win).
    """
    out = []
    for item in _input_list(body.get("input")):
        kind = item.get("type", "message")
        if kind == "message":
            out.append(_listed_message(item))
        elif kind == "function_call":
            out.append(
                {
                    "id": item.get("id") or new_id("fc"),
                    "type": "function_call",
                    "status": item.get("status") or "completed",
                    "call_id": item["call_id"],
                    "name": item["name"],
                    "arguments": item["arguments"],
                }
            )
        elif kind == "function_call_output":
            out.append(
                {
                    "id": item.get("id") or new_id("fc"),
                    "type": "function_call_output",
                    "status": item.get("status") or "completed",
                    "call_id": item["call_id"],
                    "output": item["output"],
                }
            )
        else:  # reasoning: listed as sent
            out.append({**item, "id": item.get("id") or new_id("rs")})
    return out


def _listed_message(item: dict[str, Any]) -> dict[str, Any]:
    role, content = item["role"], item["content"]
    assistant = role == "assistant"
    if isinstance(content, str):
        kind = "output_text" if assistant else "input_text"
        content = [{"type": kind, "text": content}]
    parts = []
    for part in content:
        if part["type"] == "input_image":
            part = {"detail": "auto", **part}
        elif assistant and part["type"] in ("output_text", "input_text"):
            part = {"annotations": [], **part, "type": "output_text"}
        parts.append(part)
    return {
        "id": item.get("id") or new_id("msg"),
        "type": "message",
        "role": role,
        "status": item.get("status") or "completed",
        "content": parts,
    }
