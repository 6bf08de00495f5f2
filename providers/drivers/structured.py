"""Structured output and forced tool choice where a vendor lacks them (pure).

One canonical → canonical emulation every driver that needs it reuses: a
driver says what its vendor does natively for a model (``Native``), ``plan()``
rewrites the canonical request, and the returned ``Plan`` rewrites the
canonical answer (``answer``) or stream (``stream``) back. No I/O.

JSON modes (``response_format`` ``json_object`` / ``json_schema``, strict or
not) without native support become a **synthetic tool** whose input schema is
the requested schema (``json_object``: a permissive object schema), forced:

- no caller tools, or ``tool_choice: "none"``: the synthetic tool is forced by
  name (caller tools stay declared, so history that uses them stays valid, but
  cannot be called);
- caller tools with ``tool_choice`` ``auto`` / absent: the synthetic tool is
  added beside them and ``tool_choice`` becomes ``required``: the model either
  calls a real tool (kept as ``tool_calls``) or answers through the synthetic
  one;
- ``tool_choice`` ``required`` or a named function: the answer is a tool call
  anyway, so ``response_format`` is dropped.

The synthetic call's arguments become the message ``content`` (streamed:
argument deltas become content deltas), text beside it is dropped, it never
leaks as a tool call, and ``finish_reason`` is ``stop`` (``tool_calls`` when
real calls remain). An answer with neither is a 502 naming the vendor.

Forced tool choice (``required``, a named function, ``allowed_tools`` in
``required`` mode) without native support, after the step above:

- a named function where the vendor can force "any tool": only that tool is
  offered, with ``required``;
- vendors with native JSON schema output (Ollama): the output is constrained to
  a call object (``anyOf`` over ``{"name": const, "arguments": <parameters>}``)
  and the call is synthesized from it;
- otherwise the allowed tools are offered with ``auto`` and an instruction to
  call one, and the answer is checked.

Either way the reply contains a call to an allowed tool (``finish_reason``
``tool_calls``), or the call fails with a 502 naming the vendor's failure to
comply: never a silent downgrade to ``auto``. Streamed text is held back until
a call is seen, so nothing reaches the client before the check.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

from providers.drivers.canonical import (
    chunk,
    synth_tool_id,
    tool_call,
    tool_call_arguments,
    tool_call_start,
)
from providers.drivers.errors import DriverError, invalid_request

Chunk = dict[str, Any]

SYNTHETIC_TOOL = "json_response"
PERMISSIVE_OBJECT: dict[str, Any] = {"type": "object", "additionalProperties": True}
_NAME_RE = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


@dataclass(frozen=True)
class Native:
    """What the vendor does itself for one model; the rest is emulated."""

    json_object: bool = True
    json_schema: bool = True
    tool_any: bool = True  # tool_choice "required"
    tool_named: bool = True  # tool_choice naming one function


def noncompliance(vendor: str, what: str) -> DriverError:
    """The 502 for an answer that breaks the emulated contract."""
    return DriverError(
        f"{vendor} did not comply with the request: {what}",
        status=502,
        code="upstream_noncompliance",
    )


def _tool_name(tool: Any) -> str:
    if isinstance(tool, dict) and isinstance(tool.get("function"), dict):
        return str(tool["function"].get("name") or "")
    return ""


def json_schema_of(response_format: Mapping[str, Any]) -> dict[str, Any]:
    """The schema of a ``json_schema`` response_format; a 400 naming it when
    it is not a JSON Schema object."""
    spec = response_format.get("json_schema")
    schema = spec.get("schema") if isinstance(spec, dict) else None
    if not isinstance(schema, dict):
        raise invalid_request(
            "response_format.json_schema.schema must be a JSON Schema object.",
            "response_format.json_schema.schema",
        )
    return schema


def _json_mode(request: Mapping[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """(``json_object`` | ``json_schema``, the schema) or None for text."""
    fmt = request.get("response_format")
    if fmt is None:
        return None
    if not isinstance(fmt, dict):
        raise invalid_request("response_format must be an object.", "response_format")
    kind = fmt.get("type")
    if kind in (None, "text"):
        return None
    if kind == "json_object":
        return "json_object", dict(PERMISSIVE_OBJECT)
    if kind == "json_schema":
        schema = json_schema_of(fmt)
        return "json_schema", schema
    raise invalid_request(
        "response_format type must be text, json_object or json_schema.",
        "response_format.type",
    )


def _forced_names(request: Mapping[str, Any]) -> tuple[str, set[str]] | None:
    """("required" | "named", allowed names) when tool_choice forces a call."""
    choice = request.get("tool_choice")
    names = {_tool_name(t) for t in request.get("tools") or []} - {""}
    if choice == "required":
        return "required", names
    if isinstance(choice, dict) and choice.get("type") == "function":
        name = str((choice.get("function") or {}).get("name") or "")
        if name not in names:
            raise invalid_request(
                f"tool_choice names {name!r}, which is not in tools.", "tool_choice"
            )
        return "named", {name}
    if isinstance(choice, dict) and choice.get("type") == "allowed_tools":
        spec = choice.get("allowed_tools")
        spec = spec if isinstance(spec, dict) else {}
        if spec.get("mode", "auto") == "required":
            allowed = {_tool_name(t) for t in spec.get("tools") or []} & names
            if not allowed:
                raise invalid_request(
                    "allowed_tools names none of the request's tools.",
                    "tool_choice.allowed_tools",
                )
            return "required", allowed
    return None


def _synthetic_name(request: Mapping[str, Any]) -> str:
    taken = {_tool_name(t) for t in request.get("tools") or []}
    spec = (request.get("response_format") or {}).get("json_schema")
    wanted = str(spec.get("name") or "") if isinstance(spec, dict) else ""
    name = wanted if _NAME_RE.match(wanted) else SYNTHETIC_TOOL
    while name in taken:
        name = f"{name}_"[:64] if len(name) < 64 else SYNTHETIC_TOOL + "_x"
    return name


@dataclass
class Plan:
    """The rewritten request and how to rewrite the answer back."""

    request: dict[str, Any]
    vendor: str = "upstream"
    json_tool: str | None = None  # the synthetic tool's name
    forced: set[str] | None = None  # allowed names when a call is emulated-forced
    via_format: bool = False  # the call comes as a JSON call object in content

    @property
    def active(self) -> bool:
        return bool(self.json_tool or self.forced is not None)

    # -- whole answers ---------------------------------------------------------

    def answer(self, completion: dict[str, Any]) -> dict[str, Any]:
        """The canonical completion rewritten back (see the module docstring)."""
        if not self.active:
            return completion
        for item in completion.get("choices") or []:
            if self.forced is not None:
                self._answer_forced(item)
            if self.json_tool:
                self._answer_json(item)
        return completion

    def _answer_forced(self, item: dict[str, Any]) -> None:
        message = item.get("message") or {}
        allowed = self.forced or set()
        calls = [
            c
            for c in message.get("tool_calls") or []
            if (c.get("function") or {}).get("name") in allowed
        ]
        if not calls and self.via_format:
            calls = [self._call_from_text(str(message.get("content") or ""))]
            message["content"] = None
        if not calls:
            raise noncompliance(
                self.vendor, f"the answer calls none of the tools {sorted(allowed)}."
            )
        message["tool_calls"] = calls
        if message.get("content") == "":
            message["content"] = None
        if item.get("finish_reason") == "stop":
            item["finish_reason"] = "tool_calls"

    def _answer_json(self, item: dict[str, Any]) -> None:
        message = item.get("message") or {}
        calls = message.get("tool_calls") or []
        ours = [
            c for c in calls if (c.get("function") or {}).get("name") == self.json_tool
        ]
        real = [c for c in calls if c not in ours]
        if ours:
            message["content"] = (ours[0].get("function") or {}).get(
                "arguments"
            ) or "{}"
        elif not real and item.get("finish_reason") != "length":
            raise noncompliance(self.vendor, "the answer holds no JSON output.")
        if real:
            message["tool_calls"] = real
            if not ours:
                message["content"] = message.get("content") or None
        else:
            message.pop("tool_calls", None)
            if item.get("finish_reason") == "tool_calls":
                item["finish_reason"] = "stop"

    def _call_from_text(self, text: str) -> dict[str, Any]:
        """The tool call a constrained JSON call object stands for."""
        allowed = self.forced or set()
        try:
            value = json.loads(text)
        except ValueError:
            raise noncompliance(
                self.vendor, "the forced tool call is not valid JSON."
            ) from None
        name = value.get("name") if isinstance(value, dict) else None
        arguments = value.get("arguments") if isinstance(value, dict) else None
        if name not in allowed or not isinstance(arguments, dict):
            raise noncompliance(
                self.vendor, f"the answer calls none of the tools {sorted(allowed)}."
            )
        return tool_call(synth_tool_id(), str(name), arguments)

    # -- streams ---------------------------------------------------------------

    async def stream(self, chunks: AsyncIterator[Chunk]) -> AsyncIterator[Chunk]:
        """The canonical stream rewritten back, chunk by chunk."""
        if not self.active:
            async for item in chunks:
                yield item
            return
        stages: list[_Stage] = []
        if self.forced is not None:
            stages.append(_ForcedStage(self))
        if self.json_tool:
            stages.append(_JsonStage(self))
        try:
            async for item in chunks:
                batch = [item]
                for stage in stages:
                    batch = [out for one in batch for out in stage.feed(one)]
                for out in batch:
                    yield out
        finally:
            # A 502 raised here must still close the vendor's stream at once.
            close = getattr(chunks, "aclose", None)
            if close is not None:
                await close()


# -- stream stages -----------------------------------------------------------------


def _deltas(item: Chunk) -> tuple[dict[str, Any], str | None] | None:
    """(delta, finish_reason) of a single-choice chunk, or None (usage chunks)."""
    choices = item.get("choices") or []
    if len(choices) != 1:
        return None
    return choices[0].get("delta") or {}, choices[0].get("finish_reason")


def _split(item: Chunk) -> list[tuple[str, Any, Chunk]]:
    """A chunk as parts: ("content", text), ("tool", entry), ("other", delta),
    ("finish", reason); each with the chunk it came from."""
    parsed = _deltas(item)
    if parsed is None:
        return [("pass", None, item)]
    delta, reason = parsed
    parts: list[tuple[str, Any, Chunk]] = []
    rest = {k: v for k, v in delta.items() if k not in ("content", "tool_calls")}
    if rest or (not delta and reason is None):
        parts.append(("other", rest, item))
    if delta.get("content"):
        parts.append(("content", str(delta["content"]), item))
    for entry in delta.get("tool_calls") or []:
        parts.append(("tool", entry, item))
    if reason is not None:
        parts.append(("finish", reason, item))
    return parts


def _like(item: Chunk, delta: dict[str, Any], reason: str | None = None) -> Chunk:
    """A chunk for ``delta`` carrying the source chunk's choice index and extras."""
    source = (item.get("choices") or [{}])[0]
    out = chunk(delta, reason, int(source.get("index") or 0))
    for key, value in item.items():
        # usage rides on the finishing part only, never duplicated.
        if key != "choices" and (key != "usage" or reason is not None):
            out[key] = value
    return out


class _Stage:
    def __init__(self, plan: Plan) -> None:
        self.plan = plan

    def feed(self, item: Chunk) -> list[Chunk]:
        raise NotImplementedError


class _ForcedStage(_Stage):
    """Hold text until an allowed call shows; synthesize it from a call object."""

    def __init__(self, plan: Plan) -> None:
        super().__init__(plan)
        self.held: list[Chunk] = []
        self.text: list[str] = []
        self.called = False
        self.index: dict[int, int] = {}

    def feed(self, item: Chunk) -> list[Chunk]:
        out: list[Chunk] = []
        allowed = self.plan.forced or set()
        for kind, value, source in _split(item):
            if kind == "pass" or kind == "other":
                out.append(source if kind == "pass" else _like(source, value))
            elif kind == "content":
                self.text.append(value)
                if self.called and not self.plan.via_format:
                    out.append(_like(source, {"content": value}))
                else:
                    self.held.append(_like(source, {"content": value}))
            elif kind == "tool":
                k = int(value.get("index") or 0)
                name = (value.get("function") or {}).get("name")
                if name is not None and k not in self.index:
                    if name not in allowed:
                        continue  # a call the model was not offered
                    self.index[k] = len(self.index)
                    if not self.called and not self.plan.via_format:
                        out.extend(self.held)
                    self.called = True
                if k in self.index:
                    entry = {**value, "index": self.index[k]}
                    out.append(_like(source, {"tool_calls": [entry]}))
            elif kind == "finish":
                out.extend(self._finish(source, value))
        return out

    def _finish(self, source: Chunk, reason: str) -> list[Chunk]:
        out: list[Chunk] = []
        if not self.called and self.plan.via_format:
            call = self.plan._call_from_text("".join(self.text))
            fn = call["function"]
            start = tool_call_start(0, call["id"], fn["name"])
            out.append(_like(source, {"tool_calls": [start]}))
            frag = tool_call_arguments(0, fn["arguments"])
            out.append(_like(source, {"tool_calls": [frag]}))
            self.called = True
        if not self.called:
            allowed = sorted(self.plan.forced or set())
            raise noncompliance(
                self.plan.vendor, f"the answer calls none of the tools {allowed}."
            )
        out.append(_like(source, {}, "tool_calls" if reason == "stop" else reason))
        return out


class _JsonStage(_Stage):
    """The synthetic tool's argument deltas become content deltas."""

    def __init__(self, plan: Plan) -> None:
        super().__init__(plan)
        self.held: list[Chunk] = []
        self.ours: int | None = None
        self.real: dict[int, int] = {}

    def feed(self, item: Chunk) -> list[Chunk]:
        out: list[Chunk] = []
        for kind, value, source in _split(item):
            if kind == "pass" or kind == "other":
                out.append(source if kind == "pass" else _like(source, value))
            elif kind == "content":
                if self.real:
                    out.append(_like(source, {"content": value}))
                elif self.ours is None:
                    self.held.append(_like(source, {"content": value}))
            elif kind == "tool":
                out.extend(self._tool(source, value))
            elif kind == "finish":
                out.extend(self._finish(source, value))
        return out

    def _tool(self, source: Chunk, entry: dict[str, Any]) -> list[Chunk]:
        k = int(entry.get("index") or 0)
        fn = entry.get("function") or {}
        if fn.get("name") is not None and k != self.ours and k not in self.real:
            if fn["name"] == self.plan.json_tool and self.ours is None:
                self.ours = k
                self.held = []  # text beside the JSON answer is not part of it
            else:
                self.real[k] = len(self.real)
                held, self.held = self.held, []
                return [*held, self._real(source, entry, k)]
        if k == self.ours:
            fragment = fn.get("arguments")
            return [_like(source, {"content": fragment})] if fragment else []
        if k in self.real:
            return [self._real(source, entry, k)]
        return []

    def _real(self, source: Chunk, entry: dict[str, Any], k: int) -> Chunk:
        return _like(source, {"tool_calls": [{**entry, "index": self.real[k]}]})

    def _finish(self, source: Chunk, reason: str) -> list[Chunk]:
        out: list[Chunk] = []
        if self.ours is None and not self.real:
            if reason != "length":
                raise noncompliance(
                    self.plan.vendor, "the answer holds no JSON output."
                )
            out.extend(self.held)
        if reason == "tool_calls" and not self.real:
            reason = "stop"
        out.append(_like(source, {}, reason))
        return out


# -- the request rewrite --------------------------------------------------------------


def _system(request: dict[str, Any], text: str) -> None:
    request["messages"] = [{"role": "system", "content": text}, *request["messages"]]


def _call_object_schema(tools: list[Any], names: set[str]) -> dict[str, Any]:
    options = []
    for tool in tools:
        name = _tool_name(tool)
        if name not in names:
            continue
        params = (tool.get("function") or {}).get("parameters") or {
            "type": "object",
            "properties": {},
        }
        options.append(
            {
                "type": "object",
                "properties": {"name": {"const": name}, "arguments": params},
                "required": ["name", "arguments"],
            }
        )
    return options[0] if len(options) == 1 else {"anyOf": options}


def plan(request: Mapping[str, Any], native: Native, vendor: str) -> Plan:
    """The emulation for ``request`` on a vendor that does ``native`` itself."""
    out = dict(request)
    if isinstance(out.get("messages"), list):
        out["messages"] = list(out["messages"])
    result = Plan(out, vendor)
    mode = _json_mode(out)
    forced = _forced_names(out)
    if mode is not None and not getattr(native, mode[0]):
        if forced is not None:
            # The answer is a tool call: there is no content to shape.
            out.pop("response_format", None)
        else:
            _json_via_tool(out, result, mode[1])
            forced = _forced_names(out)
    if forced is not None:
        _forced_call(out, result, native, *forced)
    return result


def _json_via_tool(out: dict[str, Any], result: Plan, schema: dict[str, Any]) -> None:
    """JSON mode → a synthetic tool with the schema, forced (module docstring)."""
    if schema.get("type", "object") != "object":
        # A tool's input is an object (Anthropic and Bedrock refuse any other
        # root): refused by name rather than as the vendor's word on a tool the
        # caller never sent.
        raise invalid_request(
            f"{result.vendor} has no JSON schema output for this model (it is "
            "emulated with a tool), so the schema's root must be an object.",
            "response_format.json_schema.schema",
        )
    schema = {**schema, "type": "object"}
    name = _synthetic_name(out)
    function: dict[str, Any] = {
        "name": name,
        "description": "Give the final answer: its input is the answer, "
        "as JSON matching this schema.",
        "parameters": schema,
    }
    spec = (out.pop("response_format", None) or {}).get("json_schema")
    if isinstance(spec, dict) and spec.get("strict"):
        function["strict"] = True
    tools = list(out.get("tools") or [])
    choice = out.get("tool_choice")
    if tools and choice in (None, "auto"):
        out["tool_choice"] = "required"
    elif tools and isinstance(choice, dict) and choice.get("type") == "allowed_tools":
        allowed = choice.get("allowed_tools") or {}
        names = {_tool_name(t) for t in allowed.get("tools") or []}
        tools = [t for t in tools if _tool_name(t) in names]
        out["tool_choice"] = "required"
    else:
        out["tool_choice"] = {"type": "function", "function": {"name": name}}
    out["tools"] = [*tools, {"type": "function", "function": function}]
    out.pop("parallel_tool_calls", None)
    result.json_tool = name


def _forced_call(
    out: dict[str, Any], result: Plan, native: Native, how: str, names: set[str]
) -> None:
    """A forced tool choice the vendor cannot express (module docstring)."""
    if (how == "required" and native.tool_any) or (
        how == "named" and native.tool_named
    ):
        return
    if not names:
        # As OpenAI answers it, and before the vendor is asked to call nothing.
        raise invalid_request("tool_choice needs tools.", "tool_choice")
    result.forced = names
    # Tools of another type (no function name) stay: the vendor's translation
    # judges them, as it does where forcing is native, rather than them being
    # silently dropped here.
    out["tools"] = [t for t in out["tools"] if _tool_name(t) in names | {""}]
    offered = [t for t in out["tools"] if _tool_name(t) in names]
    if native.tool_any:
        out["tool_choice"] = "required"
        return
    out["tool_choice"] = "auto"
    listed = ", ".join(sorted(names))
    if native.json_schema:
        out["response_format"] = {
            "type": "json_schema",
            "json_schema": {
                "name": "tool_call",
                "schema": _call_object_schema(offered, names),
            },
        }
        _system(
            out,
            f"You must call one of these tools: {listed}. Answer only with a JSON "
            'object {"name": <tool name>, "arguments": <the tool\'s arguments>}.',
        )
        result.via_format = True
        return
    _system(out, f"You must call one of these tools now: {listed}.")
