"""Inbound request bodies checked against OpenAI's types and ranges (pure).

Runs before routing and before any translation, so a driver only ever sees
values of the types OpenAI documents: a wrong type or an out-of-range value is
a 400 ``invalid_request_error`` whose ``param`` names the field's path (e.g.
``messages[2].content[0].image_url.url``), never a 500 from a translator and
never a value silently changed further down. Fields this module does not know
pass through untouched (a same-protocol pair keeps them).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from gateway.errors import bad_request
from gateway.fields import (
    INT64,
    Fields,
    check_array,
    check_depth,
    check_model,
    check_object,
    is_int,
    is_number,
    out_of_range,
    wrong,
)

MAX_EMBEDDING_INPUTS = 2048
MAX_STOP = 4
MAX_TOOLS = 128
_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
PART_TYPES = frozenset({"text", "image_url", "input_audio", "file", "refusal"})
REASONING_EFFORTS = frozenset({"none", "minimal", "low", "medium", "high", "xhigh"})
RESPONSE_FORMATS = frozenset({"text", "json_object", "json_schema"})
TOOL_CHOICES = frozenset({"none", "auto", "required"})


# -- chat completions -----------------------------------------------------------


def validate_chat(body: Mapping[str, Any]) -> None:
    """Check a Chat Completions body; raise a 400 GatewayError naming the field."""
    check_depth(body)
    check_model(body.get("model"))
    messages = body.get("messages")
    if messages is None:
        raise bad_request(
            "Missing required parameter: 'messages'.",
            "messages",
            "missing_required_parameter",
        )
    for i, message in enumerate(check_array(messages, "messages", low=1)):
        _message(message, f"messages[{i}]")
    f = Fields(body, "")
    f.number("temperature", 0, 2)
    f.number("top_p", 0, 1)
    f.integer("n", 1, 128)
    f.integer("max_tokens", 1)
    f.integer("max_completion_tokens", 1)
    f.number("presence_penalty", -2, 2)
    f.number("frequency_penalty", -2, 2)
    f.get("logit_bias", _logit_bias)
    f.boolean("logprobs")
    f.integer("top_logprobs", 0, 20)
    f.integer("seed", -INT64, INT64 - 1)
    f.boolean("stream")
    f.get("stream_options", _stream_options)
    f.get("stop", _stop)
    f.get("tools", _tools)
    f.get("tool_choice", _tool_choice)
    f.boolean("parallel_tool_calls")
    f.get("response_format", _response_format)
    f.string("user")
    f.string("safety_identifier")
    f.string("prompt_cache_key")
    f.string("service_tier")
    f.choice("reasoning_effort", REASONING_EFFORTS)
    f.get("metadata", _metadata)
    f.boolean("store")
    f.get("modalities", _strings)
    f.obj_field("audio")
    f.obj_field("prediction")
    f.obj_field("web_search_options")
    f.get("functions", _functions)
    f.get("function_call", _function_call)


def _message(message: Any, where: str) -> None:
    if not isinstance(message, dict):
        raise wrong(where, "an object", message)
    f = Fields(message, where)
    role = message.get("role")
    if role is None:
        f.string("role", required=True)
    f.choice("role", ROLES)
    f.string("name")
    content = message.get("content")
    if content is None:
        if role not in ("assistant", "function"):
            f.string("content", required=True)
    elif isinstance(content, list):
        for j, part in enumerate(content):
            _part(part, f"{where}.content[{j}]")
    elif not isinstance(content, str):
        raise wrong(f.path("content"), "a string or an array of parts", content)
    if role == "tool":
        f.string("tool_call_id", required=True)
    else:
        f.string("tool_call_id")
    f.string("refusal")
    f.get("tool_calls", _tool_calls)
    f.get("function_call", _function_call)


def _part(part: Any, where: str) -> None:
    if not isinstance(part, dict):
        raise wrong(where, "an object", part)
    f = Fields(part, where)
    kind = part.get("type")
    if kind is None:
        f.string("type", required=True)
    f.choice("type", PART_TYPES)
    if kind in ("text", "refusal"):
        f.string(kind, required=True)
    elif kind == "image_url":
        image = part.get("image_url")
        if not isinstance(image, dict):
            raise wrong(f.path("image_url"), "an object", image)
        g = Fields(image, f.path("image_url"))
        g.string("url", required=True)
        if not image["url"]:
            raise out_of_range(g.path("url"), "must not be empty")
        g.choice("detail", frozenset({"auto", "low", "high"}))
    elif kind == "input_audio":
        audio = part.get("input_audio")
        if not isinstance(audio, dict):
            raise wrong(f.path("input_audio"), "an object", audio)
        g = Fields(audio, f.path("input_audio"))
        g.string("data", required=True)
        g.string("format", required=True)
    elif kind == "file":
        file = part.get("file")
        if not isinstance(file, dict):
            raise wrong(f.path("file"), "an object", file)
        g = Fields(file, f.path("file"))
        for name in ("file_data", "file_id", "filename"):
            g.string(name)


def _tool_calls(value: Any, where: str) -> None:
    for j, call in enumerate(check_array(value, where)):
        here = f"{where}[{j}]"
        if not isinstance(call, dict):
            raise wrong(here, "an object", call)
        f = Fields(call, here)
        f.string("id", required=True)
        f.choice("type", frozenset({"function"}))
        function = call.get("function")
        if not isinstance(function, dict):
            raise wrong(f.path("function"), "an object", function)
        g = Fields(function, f.path("function"))
        g.string("name", required=True)
        g.string("arguments", required=True)


def _function_call(value: Any, where: str) -> None:
    if isinstance(value, str):
        return
    if not isinstance(value, dict):
        raise wrong(where, "a string or an object", value)
    f = Fields(value, where)
    f.string("name")
    f.string("arguments")


def _functions(value: Any, where: str) -> None:
    for j, fn in enumerate(check_array(value, where, high=MAX_TOOLS)):
        _function(fn, f"{where}[{j}]")


def _function(fn: Any, where: str) -> None:
    if not isinstance(fn, dict):
        raise wrong(where, "an object", fn)
    f = Fields(fn, where)
    f.string("name", required=True)
    if not _TOOL_NAME.match(fn["name"]):
        raise out_of_range(f.path("name"), "must match ^[a-zA-Z0-9_-]{1,64}$")
    f.string("description")
    f.obj_field("parameters")
    f.boolean("strict")


def _tools(value: Any, where: str) -> None:
    for j, tool in enumerate(check_array(value, where, high=MAX_TOOLS)):
        here = f"{where}[{j}]"
        if not isinstance(tool, dict):
            raise wrong(here, "an object", tool)
        f = Fields(tool, here)
        f.string("type", required=True)
        f.choice("type", frozenset({"function", "custom"}))
        if tool["type"] == "function":
            _function(tool.get("function"), f.path("function"))
        else:
            f.obj_field("custom")


def _tool_choice(value: Any, where: str) -> None:
    if isinstance(value, str):
        if value not in TOOL_CHOICES:
            raise out_of_range(where, "must be none, auto, required or an object")
        return
    if not isinstance(value, dict):
        raise wrong(where, "a string or an object", value)
    f = Fields(value, where)
    f.string("type", required=True)
    if value["type"] == "function":
        function = value.get("function")
        if not isinstance(function, dict):
            raise wrong(f.path("function"), "an object", function)
        Fields(function, f.path("function")).string("name", required=True)
    elif value["type"] == "allowed_tools":
        f.obj_field("allowed_tools")


def _stop(value: Any, where: str) -> None:
    if isinstance(value, str):
        return
    for j, item in enumerate(check_array(value, where, high=MAX_STOP)):
        if not isinstance(item, str):
            raise wrong(f"{where}[{j}]", "a string", item)


def _strings(value: Any, where: str) -> None:
    for j, item in enumerate(check_array(value, where)):
        if not isinstance(item, str):
            raise wrong(f"{where}[{j}]", "a string", item)


def _stream_options(value: Any, where: str) -> None:
    check_object(value, where)
    Fields(value, where).boolean("include_usage")


def _logit_bias(value: Any, where: str) -> None:
    check_object(value, where)
    for token, bias in value.items():
        if not is_number(bias) or not -100 <= bias <= 100:
            raise out_of_range(f"{where}.{token}", "must be between -100 and 100")


def _metadata(value: Any, where: str) -> None:
    check_object(value, where)
    if len(value) > 16:
        raise out_of_range(where, "may have at most 16 keys")
    for name, item in value.items():
        if len(name) > 64 or not isinstance(item, str) or len(item) > 512:
            raise out_of_range(
                f"{where}.{name}", "keys of up to 64 and strings of up to 512 chars"
            )


def _response_format(value: Any, where: str) -> None:
    check_object(value, where)
    f = Fields(value, where)
    f.string("type", required=True)
    f.choice("type", RESPONSE_FORMATS)
    if value["type"] == "json_schema":
        schema = value.get("json_schema")
        if not isinstance(schema, dict):
            raise wrong(f.path("json_schema"), "an object", schema)
        g = Fields(schema, f.path("json_schema"))
        g.string("name", required=True)
        g.string("description")
        g.obj_field("schema")
        g.boolean("strict")


# -- embeddings -----------------------------------------------------------------


def validate_embeddings(body: Mapping[str, Any]) -> None:
    """Check an Embeddings body; raise a 400 GatewayError naming the field."""
    check_depth(body)
    check_model(body.get("model"))
    value = body.get("input")
    if value is None or value == "" or value == []:
        raise bad_request(
            "'input' must be a non-empty string or array.",
            "input",
            "missing_required_parameter",
        )
    if not isinstance(value, str):
        items = check_array(value, "input", high=MAX_EMBEDDING_INPUTS)
        if isinstance(items[0], int | float):  # one array of tokens
            _tokens(items, "input")
        else:
            for j, item in enumerate(items):
                here = f"input[{j}]"
                if isinstance(item, list):
                    if not item:
                        raise out_of_range(here, "must not be empty")
                    _tokens(item, here)
                elif not isinstance(item, str):
                    raise wrong(here, "a string or an array of tokens", item)
                elif not item:
                    raise out_of_range(here, "must not be empty")
    f = Fields(body, "")
    f.integer("dimensions", 1, 65536)
    f.choice("encoding_format", frozenset({"float", "base64"}))
    f.string("user")


def _tokens(items: list[Any], where: str) -> None:
    for j, token in enumerate(items):
        if not is_int(token) or not 0 <= token < 2**32:
            raise out_of_range(f"{where}[{j}]", "tokens are integers from 0")
