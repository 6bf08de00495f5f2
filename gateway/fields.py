"""Typed readers of inbound JSON fields, each refusal a 400 naming the field (pure).

The building blocks of ``gateway.validation``: the JSON depth limit, the model
name rule, and ``Fields``, which reads one object's optional fields by type
and range. ``bool`` is never an integer here, although Python says
``isinstance(True, int)``; numbers are finite and within 64 bits.
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
INT64 = 2**63
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


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


def wrong(param: str, expected: str, value: Any) -> GatewayError:
    return bad_request(
        f"Invalid type for '{param}': expected {expected}, but got {_kind(value)}.",
        param,
        "invalid_type",
    )


def out_of_range(param: str, rule: str) -> GatewayError:
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
        raise wrong("model", "a string", value)
    if not value or len(value) > MAX_MODEL_NAME or _CONTROL.search(value):
        raise out_of_range(
            "model",
            f"a model name has 1 to {MAX_MODEL_NAME} characters and no control "
            "characters",
        )
    return value


class Fields:
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
            raise wrong(self.path(name), "a string", value)

    def boolean(self, name: str) -> None:
        self.get(name, check_boolean)

    def obj_field(self, name: str) -> None:
        self.get(name, check_object)

    def number(self, name: str, low: float, high: float) -> None:
        value = self.obj.get(name)
        if value is None:
            return
        if not is_number(value):
            raise wrong(self.path(name), "a number", value)
        if not low <= value <= high:
            raise out_of_range(self.path(name), f"must be between {low} and {high}")

    def integer(self, name: str, low: int, high: int = INT64 - 1) -> None:
        value = self.obj.get(name)
        if value is None:
            return
        if not is_int(value):
            raise wrong(self.path(name), "an integer", value)
        if not low <= value <= high:
            raise out_of_range(self.path(name), f"must be between {low} and {high}")

    def choice(self, name: str, allowed: frozenset[str]) -> None:
        value = self.obj.get(name)
        if value is None:
            return
        if not isinstance(value, str):
            raise wrong(self.path(name), "a string", value)
        if value not in allowed:
            raise out_of_range(
                self.path(name), f"must be one of {', '.join(sorted(allowed))}"
            )


def check_boolean(value: Any, where: str) -> None:
    if not isinstance(value, bool):
        raise wrong(where, "a boolean", value)


def check_object(value: Any, where: str) -> None:
    if not isinstance(value, dict):
        raise wrong(where, "an object", value)


def check_array(
    value: Any, where: str, low: int = 0, high: int | None = None
) -> list[Any]:
    if not isinstance(value, list):
        raise wrong(where, "an array", value)
    if len(value) < low:
        raise out_of_range(where, f"must have at least {low} item(s)")
    if high is not None and len(value) > high:
        raise out_of_range(where, f"must have at most {high} items")
    return value
