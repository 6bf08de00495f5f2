"""JSON Schema helpers the fakes share: check a schema, answer from one.

A fake that constrains its output (Ollama's ``format``, Gemini's
``responseSchema``, OpenAI's ``json_schema``) or calls a tool answers with
``sample(schema)``, a deterministic instance of the schema it received, and
checks the schema itself first (``check``), as the vendor would.
"""

from __future__ import annotations

from typing import Any

import jsonschema

STRING = "Paris"


def check(schema: Any) -> str | None:
    """None when ``schema`` is a valid JSON Schema object, else why not."""
    if not isinstance(schema, dict):
        return "schema must be an object"
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as exc:
        return exc.message
    return None


def conforms(value: Any, schema: dict[str, Any]) -> bool:
    return jsonschema.Draft202012Validator(schema).is_valid(value)


def sample(schema: Any, root: dict[str, Any] | None = None, depth: int = 0) -> Any:
    """A deterministic instance of ``schema`` (every property filled)."""
    root = root if root is not None else schema
    if not isinstance(schema, dict) or depth > 20:
        return {}
    if "$ref" in schema:
        target: Any = root
        for part in str(schema["$ref"]).lstrip("#/").split("/"):
            if part:
                target = target.get(part, {}) if isinstance(target, dict) else {}
        return sample(target, root, depth + 1)
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf"):
        if schema.get(key):
            return sample(schema[key][0], root, depth + 1)
    if schema.get("allOf"):
        merged: dict[str, Any] = {}
        for part in schema["allOf"]:
            merged.update(part)
        return sample(merged, root, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind is None:
        kind = "object" if "properties" in schema else "string"
    kind = str(kind).lower()  # Gemini's OpenAPI subset spells types in capitals
    if kind == "object":
        props = schema.get("properties") or {}
        return {k: sample(v, root, depth + 1) for k, v in props.items()}
    if kind == "array":
        count = max(1, int(schema.get("minItems") or 1))
        return [sample(schema.get("items") or {}, root, depth + 1)] * count
    if kind == "integer":
        return int(schema.get("minimum") or 1)
    if kind == "number":
        return float(schema.get("minimum") or 1.5)
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return STRING


def tool_input(schema: Any) -> Any:
    """A tool call's input: a sample, or the fakes' classic ``{"city": "Paris"}``
    for a tool without parameters."""
    if isinstance(schema, dict) and schema.get("properties"):
        return sample(schema)
    return {"city": STRING}
