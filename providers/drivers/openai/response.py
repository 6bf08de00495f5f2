"""OpenAI response and stream translation (pure).

Answers come back nearly untouched. The work is in the stream: compatible
servers differ, so ``OpenAIStreamTranslator`` re-emits every stream in the
canonical chunk sequence (PROTOCOLS.md 1.6) whatever the upstream got slightly
wrong. ``completion_to_chunks`` turns a whole answer into that sequence.
"""

from __future__ import annotations

import base64
import json
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from providers.drivers.canonical import (
    chunk,
    floats_to_base64,
    role_chunk,
    synth_tool_id,
    tool_call_arguments,
    tool_call_start,
    usage_chunk,
)
from providers.drivers.config import DriverConfig
from providers.drivers.errors import (
    DriverError,
)
from providers.drivers.openai.errors import error_from_stream_event

FINISH_REASONS = frozenset(
    {"stop", "length", "tool_calls", "content_filter", "function_call"}
)
# Non-standard values seen from compatible servers (anything else -> "stop").
_FINISH_ALIASES = {
    "max_tokens": "length",
    "max_length": "length",
    "model_length": "length",
    "tool_use": "tool_calls",
    "tool_call": "tool_calls",
    "content_filtered": "content_filter",
    "safety": "content_filter",
}
# Chunk envelope fields the gateway sets itself.


def normalize_finish_reason(value: Any) -> str:
    if value in FINISH_REASONS:
        return str(value)
    return _FINISH_ALIASES.get(str(value).lower(), "stop")


def normalize_usage(usage: Mapping[str, Any]) -> dict[str, Any]:
    """Canonical usage: ints for the three totals, vendor extras kept."""
    out = dict(usage)
    prompt = out.get("prompt_tokens")
    if prompt is None:
        prompt = out.pop("input_tokens", 0)
    completion = out.get("completion_tokens")
    if completion is None:
        completion = out.pop("output_tokens", 0)
    out["prompt_tokens"] = int(prompt or 0)
    out["completion_tokens"] = int(completion or 0)
    if out.get("total_tokens") is None:
        out["total_tokens"] = out["prompt_tokens"] + out["completion_tokens"]
    return out


# -- errors -------------------------------------------------------------------


# -- responses ------------------------------------------------------------------


def parse_chat_response(
    data: Any, vendor: str = "OpenAI", cfg: DriverConfig | None = None
) -> dict[str, Any]:
    """The upstream body as-is, with finish_reason values and usage totals fixed."""
    if not isinstance(data, dict):
        raise DriverError(f"{vendor} returned an unexpected answer.", status=502)
    if data.get("error"):
        raise error_from_stream_event(data, vendor, cfg)
    if not isinstance(data.get("choices"), list):
        raise DriverError(f"{vendor} returned an answer without choices.", status=502)
    out = dict(data)
    choices = []
    for choice in data["choices"]:
        if isinstance(choice, dict):
            choice = dict(choice)
            choice["finish_reason"] = normalize_finish_reason(
                choice.get("finish_reason")
            )
        choices.append(choice)
    out["choices"] = choices
    if isinstance(out.get("usage"), dict):
        out["usage"] = normalize_usage(out["usage"])
    return out


@dataclass
class _ToolSlot:
    id: str | None = None
    name: str | None = None
    out_index: int = -1
    pending: str = ""

    @property
    def started(self) -> bool:
        return self.out_index >= 0


@dataclass
class _ChoiceState:
    started: bool = False
    finish_reason: str | None = None
    slots: list[_ToolSlot] = field(default_factory=list)
    by_index: dict[int, _ToolSlot] = field(default_factory=dict)
    by_id: dict[str, _ToolSlot] = field(default_factory=dict)
    next_tool: int = 0


class OpenAIStreamTranslator:
    """Upstream chunk dicts → canonical chunks (PROTOCOLS.md 1.6), defensively.

    Drops envelope fields, empty choices and choices without a delta; sends a
    role chunk first; tool-call ``id``/``type``/``name`` exactly once with
    indexes 0, 1, 2…; ``finish_reason`` on its own final chunk (non-standard
    values → ``stop``); the usage (wherever it arrived) as the last chunk.
    """

    def __init__(self, vendor: str = "OpenAI", cfg: DriverConfig | None = None):
        self.vendor = vendor
        self.cfg = cfg
        self.usage: dict[str, Any] | None = None
        self.choices: dict[int, _ChoiceState] = {}

    @property
    def finished(self) -> bool:
        """Every choice seen so far has its finish_reason."""
        return bool(self.choices) and all(
            c.finish_reason is not None for c in self.choices.values()
        )

    def feed(self, event: Any) -> list[dict[str, Any]]:
        if not isinstance(event, dict):
            return []
        if event.get("error"):
            raise error_from_stream_event(event, self.vendor, self.cfg)
        usage = event.get("usage")
        if not isinstance(usage, dict):  # Groq's older streams
            usage = (event.get("x_groq") or {}).get("usage")
        if isinstance(usage, dict):
            self.usage = normalize_usage(usage)
        out: list[dict[str, Any]] = []
        for choice in event.get("choices") or ():
            if isinstance(choice, dict):
                out.extend(self._choice(choice))
        return out

    def finish(self) -> list[dict[str, Any]]:
        """Close every open choice, then emit the usage chunk."""
        out: list[dict[str, Any]] = []
        if not self.choices:
            self.choices[0] = _ChoiceState(started=True)
            out.append(role_chunk(0))
        for index, state in self.choices.items():
            if state.finish_reason is None:
                out.extend(self._close(index, state, None))
        if self.usage is not None:
            out.append(usage_chunk(self.usage))
            self.usage = None
        return out

    # -- internals --

    def _choice(self, choice: dict[str, Any]) -> list[dict[str, Any]]:
        index = choice.get("index") or 0
        delta = choice.get("delta")
        finish = choice.get("finish_reason")
        if not isinstance(delta, dict) and finish is None:
            return []  # e.g. Azure's trailing content-filter annotations
        state = self.choices.setdefault(index, _ChoiceState())
        if state.finish_reason is not None:
            return []
        out: list[dict[str, Any]] = []
        if not state.started:
            state.started = True
            out.append(role_chunk(index))
        delta = dict(delta or {})
        delta.pop("role", None)
        tool_calls = delta.pop("tool_calls", None)
        clean = {k: v for k, v in delta.items() if v not in (None, "", [])}
        if clean:
            extra = {
                k: v
                for k, v in choice.items()
                if k not in ("index", "delta", "finish_reason") and v is not None
            }
            out.append(chunk(clean, index=index, **extra))
        for call in tool_calls or ():
            if isinstance(call, dict):
                out.extend(self._tool_delta(index, state, call))
        if finish is not None:
            out.extend(self._close(index, state, finish))
        return out

    def _tool_delta(
        self, index: int, state: _ChoiceState, call: dict[str, Any]
    ) -> list[dict[str, Any]]:
        up_index = call.get("index")
        call_id = call.get("id") or None
        function = call.get("function") or {}
        name = function.get("name") or None
        args = function.get("arguments") or ""
        if not isinstance(args, str):
            args = json.dumps(args, separators=(",", ":"))
        slot: _ToolSlot | None = None
        if isinstance(up_index, int) and up_index in state.by_index:
            slot = state.by_index[up_index]
            # A new call reusing an index (some servers send every call as 0).
            if call_id and name and slot.id and call_id != slot.id:
                slot = None
        elif call_id and call_id in state.by_id:
            slot = state.by_id[call_id]
        elif up_index is None and not call_id and state.slots:
            slot = state.slots[-1]
        if slot is None:
            slot = _ToolSlot()
            state.slots.append(slot)
        if isinstance(up_index, int):
            state.by_index[up_index] = slot
        if call_id and not slot.id:
            slot.id = call_id
        if call_id:
            state.by_id.setdefault(call_id, slot)
        if name and not slot.name:
            slot.name = name
        out: list[dict[str, Any]] = []
        if not slot.started:
            if slot.name is None:  # wait for the name before starting the call
                slot.pending += args
                return out
            out.append(self._start(index, state, slot))
            args, slot.pending = slot.pending + args, ""
        if args:
            out.append(
                chunk(
                    {"tool_calls": [tool_call_arguments(slot.out_index, args)]},
                    index=index,
                )
            )
        return out

    def _start(
        self, index: int, state: _ChoiceState, slot: _ToolSlot
    ) -> dict[str, Any]:
        slot.out_index = state.next_tool
        state.next_tool += 1
        if not slot.id:
            slot.id = synth_tool_id()
        start = tool_call_start(slot.out_index, slot.id, slot.name or "")
        return chunk({"tool_calls": [start]}, index=index)

    def _close(
        self, index: int, state: _ChoiceState, finish: Any
    ) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for slot in state.slots:  # calls that never got a name still go out
            if not slot.started:
                out.append(self._start(index, state, slot))
                if slot.pending:
                    function = {"arguments": slot.pending}
                    fragment = {"index": slot.out_index, "function": function}
                    out.append(chunk({"tool_calls": [fragment]}, index=index))
                    slot.pending = ""
        if finish is None:
            reason = "tool_calls" if state.slots else "stop"
        else:
            reason = normalize_finish_reason(finish)
        state.finish_reason = reason
        out.append(chunk({}, reason, index))
        return out


def completion_to_chunks(
    data: Any, vendor: str = "OpenAI", cfg: DriverConfig | None = None
) -> list[dict[str, Any]]:
    """A whole ``chat.completion`` as canonical chunks (upstream ignored stream)."""
    data = parse_chat_response(data, vendor, cfg)
    translator = OpenAIStreamTranslator(vendor, cfg)
    out: list[dict[str, Any]] = []
    for position, choice in enumerate(data["choices"]):
        if not isinstance(choice, dict):
            continue
        index = choice.get("index", position)
        message = dict(choice.get("message") or {})
        calls = message.pop("tool_calls", None) or []
        message["tool_calls"] = [
            {"index": i, **call}
            for i, call in enumerate(calls)
            if isinstance(call, dict)
        ]
        finish = choice["finish_reason"]
        out += translator.feed({"choices": [{"index": index, "delta": message}]})
        out += translator.feed(
            {"choices": [{"index": index, "delta": {}, "finish_reason": finish}]}
        )
    if isinstance(data.get("usage"), dict):
        translator.usage = data["usage"]
    return out + translator.finish()


# -- embeddings and models -------------------------------------------------------


def base64_to_floats(data: str) -> list[float]:
    raw = base64.b64decode(data)
    return list(struct.unpack(f"<{len(raw) // 4}f", raw))


def parse_embeddings_response(
    data: Any, encoding_format: str | None = None, vendor: str = "OpenAI"
) -> dict[str, Any]:
    """The upstream list, each vector in the encoding the caller asked for."""
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise DriverError(f"{vendor} returned an unexpected embeddings answer.")
    want_base64 = encoding_format == "base64"
    items = []
    for position, item in enumerate(data["data"]):
        item = dict(item)
        vector = item.get("embedding")
        if want_base64 and isinstance(vector, list):
            item["embedding"] = floats_to_base64(vector)
        elif not want_base64 and isinstance(vector, str):
            item["embedding"] = base64_to_floats(vector)
        item.setdefault("object", "embedding")
        item.setdefault("index", position)
        items.append(item)
    out = dict(data)
    out["object"] = "list"
    out["data"] = items
    usage = out.get("usage")
    if isinstance(usage, dict):
        usage = dict(usage)
        usage["prompt_tokens"] = int(usage.get("prompt_tokens") or 0)
        if usage.get("total_tokens") is None:
            usage["total_tokens"] = usage["prompt_tokens"]
        out["usage"] = usage
    return out
