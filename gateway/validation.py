"""Inbound request bodies checked against OpenAI's types and ranges (pure).

Runs before routing and before any translation, so a driver only ever sees
values of the types OpenAI documents: a wrong type or an out-of-range value is
a 400 ``invalid_request_error`` whose ``param`` names the field's path (e.g.
``messages[2].content[0].image_url.url``), never a 500 from a translator and
never a value silently changed further down. Fields this module does not know
pass through untouched (a same-protocol pair keeps them). ``bool`` is never an
integer here, although Python says ``isinstance(True, int)``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from gateway.errors import GatewayError, bad_request

# A provider name (100) + "/" + a vendor model id (255): nothing longer exists.
MAX_MODEL_NAME = 356
# Deep enough for any real tool schema; orjson cannot encode past 255 levels.
MAX_DEPTH = 64
MAX_EMBEDDING_INPUTS = 2048
MAX_STOP = 4
MAX_TOOLS = 128
INT64 = 2**63
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
PART_TYPES = frozenset({"text", "image_url", "input_audio", "file", "refusal"})
REASONING_EFFORTS = frozenset({"none", "minimal", "low", "medium", "high", "xhigh"})
RESPONSE_FORMATS = frozenset({"text", "json_object", "json_schema"})
TOOL_CHOICES = frozenset({"none", "auto", "required"})


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return math.isfinite(value) and abs(value) < INT64


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _wrong(param: str, expected: str, value: Any) -> GatewayError:
    return bad_request(
        f"Invalid type for '{param}': expected {expected}, but got {_kind(value)}.",
        param,
        "invalid_type",
    )


def _out_of_range(param: str, rule: str) -> GatewayError:
    return bad_request(f"Invalid value for '{param}': {rule}.", param)


def check_depth(body: Any) -> None:
    """Refuse JSON nested deeper than ``MAX_DEPTH`` (iterative: no recursion)."""
    stack: list[tuple[Any, int]] = [(body, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise bad_request(
                f"The request body is nested deeper than {MAX_DEPTH} levels.",
                None,
                "nesting_too_deep",
            )
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values() if _nests(v))
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node if _nests(v))


def _nests(value: Any) -> bool:
    return isinstance(value, dict | list)


def check_model(value: Any) -> str:
    """The model name; 400 naming ``model`` when it cannot be a model's name.

    Such a name is refused the same way whatever exists, so the refusal tells
    nothing about other tenants' models; it never reaches a cache or a query.
    """
    if value is None:
        raise bad_request(
            "you must provide a model parameter", "model", "missing_required_parameter"
        )
    if not isinstance(value, str):
        raise _wrong("model", "a string", value)
    if not value or len(value) > MAX_MODEL_NAME or _CONTROL.search(value):
        raise _out_of_range(
            "model",
            f"a model name has 1 to {MAX_MODEL_NAME} characters and no control "
            "characters",
        )
    return value


class _Fields:
    """Typed readers of one object's optional fields, each naming its path."""

    def __init__(self, obj: Mapping[str, Any], where: str) -> None:
        self.obj = obj
        self.where = where

    def path(self, name: str) -> str:
        return f"{self.where}.{name}" if self.where else name

    def get(self, name: str, check: Callable[[Any, str], None]) -> None:
        value = self.obj.get(name)
        if value is not None:
            check(value, self.path(name))

    def string(self, name: str, required: bool = False) -> None:
        value = self.obj.get(name)
        if value is None:
            if required:
                raise bad_request(
                    f"Missing required parameter: '{self.path(name)}'.",
                    self.path(name),
                    "missing_required_parameter",
                )
            return
        if not isinstance(value, str):
            raise _wrong(self.path(name), "a string", value)

    def boolean(self, name: str) -> None:
        self.get(name, _boolean)

    def obj_field(self, name: str) -> None:
        self.get(name, _object)

    def number(self, name: str, low: float, high: float) -> None:
        value = self.obj.get(name)
        if value is None:
            return
        if not is_number(value):
            raise _wrong(self.path(name), "a number", value)
        if not low <= value <= high:
            raise _out_of_range(self.path(name), f"must be between {low} and {high}")

    def integer(self, name: str, low: int, high: int = INT64 - 1) -> None:
        value = self.obj.get(name)
        if value is None:
            return
        if not is_int(value):
            raise _wrong(self.path(name), "an integer", value)
        if not low <= value <= high:
            raise _out_of_range(self.path(name), f"must be between {low} and {high}")

    def choice(self, name: str, allowed: frozenset[str]) -> None:
        value = self.obj.get(name)
        if value is None:
            return
        if not isinstance(value, str):
            raise _wrong(self.path(name), "a string", value)
        if value not in allowed:
            raise _out_of_range(
                self.path(name), f"must be one of {', '.join(sorted(allowed))}"
            )


def _boolean(value: Any, where: str) -> None:
    if not isinstance(value, bool):
        raise _wrong(where, "a boolean", value)


def _object(value: Any, where: str) -> None:
    if not isinstance(value, dict):
        raise _wrong(where, "an object", value)


def _array(value: Any, where: str, low: int = 0, high: int | None = None) -> list:
    if not isinstance(value, list):
        raise _wrong(where, "an array", value)
    if len(value) < low:
        raise _out_of_range(where, f"must have at least {low} item(s)")
    if high is not None and len(value) > high:
        raise _out_of_range(where, f"must have at most {high} items")
    return value


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
    for i, message in enumerate(_array(messages, "messages", low=1)):
        _message(message, f"messages[{i}]")
    f = _Fields(body, "")
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
        raise _wrong(where, "an object", message)
    f = _Fields(message, where)
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
        raise _wrong(f.path("content"), "a string or an array of parts", content)
    if role == "tool":
        f.string("tool_call_id", required=True)
    else:
        f.string("tool_call_id")
    f.string("refusal")
    f.get("tool_calls", _tool_calls)
    f.get("function_call", _function_call)


def _part(part: Any, where: str) -> None:
    if not isinstance(part, dict):
        raise _wrong(where, "an object", part)
    f = _Fields(part, where)
    kind = part.get("type")
    if kind is None:
        f.string("type", required=True)
    f.choice("type", PART_TYPES)
    if kind in ("text", "refusal"):
        f.string(kind, required=True)
    elif kind == "image_url":
        image = part.get("image_url")
        if not isinstance(image, dict):
            raise _wrong(f.path("image_url"), "an object", image)
        g = _Fields(image, f.path("image_url"))
        g.string("url", required=True)
        if not image["url"]:
            raise _out_of_range(g.path("url"), "must not be empty")
        g.choice("detail", frozenset({"auto", "low", "high"}))
    elif kind == "input_audio":
        audio = part.get("input_audio")
        if not isinstance(audio, dict):
            raise _wrong(f.path("input_audio"), "an object", audio)
        g = _Fields(audio, f.path("input_audio"))
        g.string("data", required=True)
        g.string("format", required=True)
    elif kind == "file":
        file = part.get("file")
        if not isinstance(file, dict):
            raise _wrong(f.path("file"), "an object", file)
        g = _Fields(file, f.path("file"))
        for name in ("file_data", "file_id", "filename"):
            g.string(name)


def _tool_calls(value: Any, where: str) -> None:
    for j, call in enumerate(_array(value, where)):
        here = f"{where}[{j}]"
        if not isinstance(call, dict):
            raise _wrong(here, "an object", call)
        f = _Fields(call, here)
        f.string("id", required=True)
        f.choice("type", frozenset({"function"}))
        function = call.get("function")
        if not isinstance(function, dict):
            raise _wrong(f.path("function"), "an object", function)
        g = _Fields(function, f.path("function"))
        g.string("name", required=True)
        g.string("arguments", required=True)


def _function_call(value: Any, where: str) -> None:
    if isinstance(value, str):
        return
    if not isinstance(value, dict):
        raise _wrong(where, "a string or an object", value)
    f = _Fields(value, where)
    f.string("name")
    f.string("arguments")


def _functions(value: Any, where: str) -> None:
    for j, fn in enumerate(_array(value, where, high=MAX_TOOLS)):
        _function(fn, f"{where}[{j}]")


def _function(fn: Any, where: str) -> None:
    if not isinstance(fn, dict):
        raise _wrong(where, "an object", fn)
    f = _Fields(fn, where)
    f.string("name", required=True)
    if not _TOOL_NAME.match(fn["name"]):
        raise _out_of_range(f.path("name"), "must match ^[a-zA-Z0-9_-]{1,64}$")
    f.string("description")
    f.obj_field("parameters")
    f.boolean("strict")


def _tools(value: Any, where: str) -> None:
    for j, tool in enumerate(_array(value, where, high=MAX_TOOLS)):
        here = f"{where}[{j}]"
        if not isinstance(tool, dict):
            raise _wrong(here, "an object", tool)
        f = _Fields(tool, here)
        f.string("type", required=True)
        f.choice("type", frozenset({"function", "custom"}))
        if tool["type"] == "function":
            _function(tool.get("function"), f.path("function"))
        else:
            f.obj_field("custom")


def _tool_choice(value: Any, where: str) -> None:
    if isinstance(value, str):
        if value not in TOOL_CHOICES:
            raise _out_of_range(where, "must be none, auto, required or an object")
        return
    if not isinstance(value, dict):
        raise _wrong(where, "a string or an object", value)
    f = _Fields(value, where)
    f.string("type", required=True)
    if value["type"] == "function":
        function = value.get("function")
        if not isinstance(function, dict):
            raise _wrong(f.path("function"), "an object", function)
        _Fields(function, f.path("function")).string("name", required=True)
    elif value["type"] == "allowed_tools":
        f.obj_field("allowed_tools")


def _stop(value: Any, where: str) -> None:
    if isinstance(value, str):
        return
    for j, item in enumerate(_array(value, where, high=MAX_STOP)):
        if not isinstance(item, str):
            raise _wrong(f"{where}[{j}]", "a string", item)


def _strings(value: Any, where: str) -> None:
    for j, item in enumerate(_array(value, where)):
        if not isinstance(item, str):
            raise _wrong(f"{where}[{j}]", "a string", item)


def _stream_options(value: Any, where: str) -> None:
    _object(value, where)
    _Fields(value, where).boolean("include_usage")


def _logit_bias(value: Any, where: str) -> None:
    _object(value, where)
    for token, bias in value.items():
        if not is_number(bias) or not -100 <= bias <= 100:
            raise _out_of_range(f"{where}.{token}", "must be between -100 and 100")


def _metadata(value: Any, where: str) -> None:
    _object(value, where)
    if len(value) > 16:
        raise _out_of_range(where, "may have at most 16 keys")
    for name, item in value.items():
        if len(name) > 64 or not isinstance(item, str) or len(item) > 512:
            raise _out_of_range(
                f"{where}.{name}", "keys of up to 64 and strings of up to 512 chars"
            )


def _response_format(value: Any, where: str) -> None:
    _object(value, where)
    f = _Fields(value, where)
    f.string("type", required=True)
    f.choice("type", RESPONSE_FORMATS)
    if value["type"] == "json_schema":
        schema = value.get("json_schema")
        if not isinstance(schema, dict):
            raise _wrong(f.path("json_schema"), "an object", schema)
        g = _Fields(schema, f.path("json_schema"))
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
        items = _array(value, "input", high=MAX_EMBEDDING_INPUTS)
        if all(is_int(v) for v in items):
            _tokens(items, "input")
        else:
            for j, item in enumerate(items):
                here = f"input[{j}]"
                if isinstance(item, list):
                    if not item:
                        raise _out_of_range(here, "must not be empty")
                    _tokens(item, here)
                elif not isinstance(item, str):
                    raise _wrong(here, "a string or an array of tokens", item)
                elif not item:
                    raise _out_of_range(here, "must not be empty")
    f = _Fields(body, "")
    f.integer("dimensions", 1, 65536)
    f.choice("encoding_format", frozenset({"float", "base64"}))
    f.string("user")


def _tokens(items: list[Any], where: str) -> None:
    for j, token in enumerate(items):
        if not is_int(token) or not 0 <= token < 2**32:
            raise _out_of_range(f"{where}[{j}]", "tokens are integers from 0")
