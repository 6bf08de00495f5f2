"""JSON Schema → the OpenAPI subset Gemini's function ``parameters`` accept (pure).

Gemini takes no ``$ref``, so references are inlined: a few hundred bytes of
schema whose definitions refer to each other twice over expand exponentially.
The expansion is bounded in nodes (hence in size and time): past
``MAX_SCHEMA_NODES`` it stops with a 400 instead of stalling the worker.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from providers.drivers.errors import invalid_request

# Far above any real tool schema (hundreds of nodes); a $ref bomb passes it fast.
MAX_SCHEMA_NODES = 5000

# Schema keys Gemini's OpenAPI subset knows (others are rejected as unknown names).
_SCHEMA_COPY = (
    "title",
    "description",
    "nullable",
    "maxItems",
    "minItems",
    "minProperties",
    "maxProperties",
    "minLength",
    "maxLength",
    "pattern",
    "example",
    "default",
    "minimum",
    "maximum",
    "propertyOrdering",
)


_FORMATS = {
    "string": {"enum", "date-time"},
    "number": {"float", "double"},
    "integer": {"int32", "int64"},
}


class _Budget:
    """Nodes left to produce; raises a 400 naming ``param`` when spent."""

    def __init__(self, param: str) -> None:
        self.left = MAX_SCHEMA_NODES
        self.param = param

    def spend(self) -> None:
        self.left -= 1
        if self.left < 0:
            raise invalid_request(
                f"This schema expands to more than {MAX_SCHEMA_NODES} nodes once "
                "its $refs are inlined (Gemini takes no $ref); simplify it.",
                self.param,
                "schema_too_large",
            )


def gemini_schema(
    schema: Any,
    defs: Mapping[str, Any] | None = None,
    param: str = "tools",
) -> dict[str, Any]:
    """A JSON Schema cut down to the OpenAPI subset Gemini's ``parameters`` accept.

    Raises a 400 DriverError naming ``param`` when inlining its ``$ref``s would
    produce more than ``MAX_SCHEMA_NODES`` nodes.
    """
    if not isinstance(schema, dict):
        return {}
    if defs is None:
        defs = {**(schema.get("definitions") or {}), **(schema.get("$defs") or {})}
    return _schema(schema, defs, 0, _Budget(param))


def _deref(node: dict[str, Any], defs: Mapping[str, Any], seen: int) -> dict[str, Any]:
    while isinstance(node.get("$ref"), str) and seen < 16:
        target = defs.get(node["$ref"].rsplit("/", 1)[-1])
        rest = {k: v for k, v in node.items() if k != "$ref"}
        node = {**target, **rest} if isinstance(target, dict) else rest
        seen += 1
    return node


def _schema(
    node: dict[str, Any], defs: Mapping[str, Any], depth: int, budget: _Budget
) -> dict[str, Any]:
    budget.spend()
    if depth > 24:  # recursive $ref: stop with an open object
        return {"type": "object"}
    node = dict(_deref(node, defs, 0))
    for sub in node.pop("allOf", None) or []:
        if isinstance(sub, dict):
            sub = _deref(sub, defs, 0)
            merged = {**(sub.get("properties") or {}), **(node.get("properties") or {})}
            required = [*(node.get("required") or []), *(sub.get("required") or [])]
            node = {**sub, **node, "properties": merged, "required": required}
    out: dict[str, Any] = {}
    kind = node.get("type")
    if isinstance(kind, list):
        kinds = [k for k in kind if k != "null"]
        if len(kinds) < len(kind):
            out["nullable"] = True
        kind = kinds[0] if len(kinds) == 1 else None
        if len(kinds) > 1:
            out["anyOf"] = [{"type": k} for k in kinds]
    if isinstance(kind, str) and kind != "null":
        out["type"] = kind
    for key in _SCHEMA_COPY:
        if key in node and node[key] is not None:
            out[key] = node[key]
    fmt = node.get("format")
    if isinstance(fmt, str) and fmt in _FORMATS.get(str(kind), set()):
        out["format"] = fmt
    enum = node.get("enum", [node["const"]] if "const" in node else None)
    if isinstance(enum, list):
        if None in enum:
            out["nullable"] = True
        values = [v for v in enum if v is not None]
        if kind in (None, "string"):
            out["type"] = "string"
            out["enum"] = [str(v) for v in values]
        elif values:  # Gemini's enum is for strings: keep the rule in the text
            allowed = ", ".join(json.dumps(v) for v in values)
            out["description"] = f"{out.get('description', '')} (one of {allowed})"
            out["description"] = out["description"].strip()
    variants = node.get("anyOf") or node.get("oneOf")
    if isinstance(variants, list):
        variants = [v for v in variants if isinstance(v, dict)]
        if any(v.get("type") == "null" for v in variants):
            out["nullable"] = True
        subs = [
            _schema(v, defs, depth + 1, budget)
            for v in variants
            if v.get("type") != "null"
        ]
        if len(subs) == 1:
            out = {**subs[0], **out}
        elif subs:
            out["anyOf"] = subs
    props = node.get("properties")
    if isinstance(props, dict) and props:
        out["properties"] = {
            str(k): _schema(v, defs, depth + 1, budget) for k, v in props.items()
        }
        required = [r for r in node.get("required") or [] if r in props]
        if required:
            out["required"] = list(dict.fromkeys(required))
    items = node.get("items")
    if isinstance(items, dict):
        out["items"] = _schema(items, defs, depth + 1, budget)
    return out
