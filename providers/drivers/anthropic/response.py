"""Response translation: Anthropic ``Message`` answers and SSE events →
canonical completions and chunks (pure).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from providers.drivers.anthropic.errors import error_from_event
from providers.drivers.canonical import (
    assistant_message,
    chat_completion,
    choice,
    chunk,
    role_chunk,
    synth_tool_id,
    tool_call,
    tool_call_arguments,
    tool_call_start,
    usage_chunk,
)
from providers.drivers.errors import DriverError

log = logging.getLogger(__name__)


STOP_REASONS: dict[str, str] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


def map_stop_reason(reason: Any) -> str:
    if reason is None:
        return "stop"
    mapped = STOP_REASONS.get(str(reason))
    if mapped is None:
        log.warning("anthropic: unknown stop_reason %r mapped to stop", reason)
        return "stop"
    return mapped


def _count(usage: Mapping[str, Any], key: str) -> int:
    value = usage.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def map_usage(usage: Mapping[str, Any] | None) -> dict[str, Any]:
    """Anthropic ``usage`` → canonical (``input_tokens`` excludes cache tokens)."""
    usage = usage or {}
    cache_read = _count(usage, "cache_read_input_tokens")
    cache_write = _count(usage, "cache_creation_input_tokens")
    prompt = _count(usage, "input_tokens") + cache_read + cache_write
    completion = _count(usage, "output_tokens")
    details: dict[str, int] = {"cached_tokens": cache_read}
    if cache_write:
        details["cache_creation_tokens"] = cache_write
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": details,
    }


def _tool_call(block: Mapping[str, Any]) -> dict[str, Any]:
    call_id = str(block.get("id") or synth_tool_id())
    return tool_call(call_id, str(block.get("name") or ""), block.get("input"))


def parse_message(data: Any, model_id: str = "") -> dict[str, Any]:
    """An Anthropic ``Message`` → canonical ``chat.completion``."""
    if not isinstance(data, dict) or not isinstance(data.get("content"), list):
        raise DriverError("anthropic returned an unexpected response shape", status=502)
    texts: list[str] = []
    thinking: list[str] = []
    tool_calls: list[dict[str, Any]] = []
    for block in data["content"]:
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "text" and isinstance(block.get("text"), str):
            texts.append(block["text"])
        elif kind == "tool_use":
            tool_calls.append(_tool_call(block))
        elif kind == "thinking" and isinstance(block.get("thinking"), str):
            thinking.append(block["thinking"])
    message = assistant_message("".join(texts), tool_calls, "".join(thinking))
    finish = map_stop_reason(data.get("stop_reason"))
    usage = map_usage(data.get("usage"))
    model = data.get("model") or model_id
    return chat_completion([choice(message, finish)], usage, model, data.get("id"))


class StreamTranslator:
    """Anthropic SSE events → canonical chunks (pure; one instance per stream).

    ``feed(event, payload)`` returns the chunks for one event and raises the mapped
    ``DriverError`` for an ``error`` event. The finish chunk and the usage chunk
    are emitted at ``message_stop`` (or by ``finish()`` if the stream ended after
    ``message_delta`` without it).
    """

    def __init__(self) -> None:
        self.started = False
        self.done = False
        self.stop_reason: str | None = None
        self.saw_message_delta = False
        self.usage: dict[str, int] = {}
        self._tool_index: dict[int, int] = {}  # content block index → tool-call index

    def _start(self) -> list[dict[str, Any]]:
        if self.started:
            return []
        self.started = True
        return [role_chunk()]

    def _update_usage(self, usage: Any) -> None:
        if not isinstance(usage, dict):
            return
        for key, value in usage.items():
            if isinstance(value, int) and not isinstance(value, bool):
                self.usage[key] = value

    def feed(self, event: str, payload: Any) -> list[dict[str, Any]]:
        if self.done or not isinstance(payload, dict):
            return []
        kind = payload.get("type") or event
        if kind == "error":
            raise error_from_event(payload)
        handler = getattr(self, f"_on_{kind}", None)
        return handler(payload) if handler is not None else []  # ping, unknown

    def _on_message_start(self, payload: dict[str, Any]) -> list[dict[str, Any]]:
        message = payload.get("message")
        if isinstance(message, dict):
            self._update_usage(message.get("usage"))
        return self._start()

    def _on_content_block_start(self, payload: dict[str, Any]) -> list[dict[str, Any]]:
        out = self._start()
        block = payload.get("content_block")
        block = block if isinstance(block, dict) else {}
        kind = block.get("type")
        if kind == "text" and block.get("text"):
            out.append(chunk({"content": str(block["text"])}))
        elif kind == "thinking" and block.get("thinking"):
            out.append(chunk({"reasoning_content": str(block["thinking"])}))
        elif kind == "tool_use":
            k = len(self._tool_index)
            self._tool_index[_int(payload.get("index"))] = k
            call_id = str(block.get("id") or synth_tool_id())
            start = tool_call_start(k, call_id, str(block.get("name") or ""))
            out.append(chunk({"tool_calls": [start]}))
            if block.get("input"):  # complete input announced up front (rare)
                args = json.dumps(block["input"], ensure_ascii=False)
                out.append(chunk({"tool_calls": [tool_call_arguments(k, args)]}))
        return out

    def _on_content_block_delta(self, payload: dict[str, Any]) -> list[dict[str, Any]]:
        out = self._start()
        delta = payload.get("delta")
        delta = delta if isinstance(delta, dict) else {}
        kind = delta.get("type")
        if kind == "text_delta" and delta.get("text"):
            out.append(chunk({"content": str(delta["text"])}))
        elif kind == "input_json_delta" and delta.get("partial_json"):
            k = self._tool_index.get(_int(payload.get("index")))
            if k is not None:
                args = str(delta["partial_json"])
                out.append(chunk({"tool_calls": [tool_call_arguments(k, args)]}))
        elif kind == "thinking_delta" and delta.get("thinking"):
            out.append(chunk({"reasoning_content": str(delta["thinking"])}))
        # signature_delta / citations_delta: nothing to forward
        return out

    def _on_message_delta(self, payload: dict[str, Any]) -> list[dict[str, Any]]:
        self.saw_message_delta = True
        delta = payload.get("delta")
        if isinstance(delta, dict) and delta.get("stop_reason"):
            self.stop_reason = str(delta["stop_reason"])
        self._update_usage(payload.get("usage"))
        return []

    def _on_message_stop(self, payload: dict[str, Any]) -> list[dict[str, Any]]:
        return self._close()

    def _close(self) -> list[dict[str, Any]]:
        out = self._start()
        self.done = True
        out.append(chunk({}, map_stop_reason(self.stop_reason)))
        if self.usage:
            out.append(usage_chunk(map_usage(self.usage)))
        return out

    def finish(self) -> list[dict[str, Any]]:
        """Chunks still owed when the upstream body ended."""
        if self.done or not self.saw_message_delta:
            return []
        return self._close()

    @property
    def complete(self) -> bool:
        """Whether the upstream stream reached its end (``message_delta`` at least)."""
        return self.done or self.saw_message_delta


def _int(value: Any) -> int:
    return value if isinstance(value, int) else -1
