"""Response translation: ``/api/chat`` answers and NDJSON stream lines →
canonical completions and chunks (pure).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from providers.drivers.canonical import (
    assistant_message,
    chat_completion,
    choice,
    chunk,
    now,
    role_chunk,
    synth_tool_id,
    tool_call,
    tool_call_arguments,
    tool_call_start,
    usage_chunk,
)
from providers.drivers.errors import DriverError
from providers.drivers.ollama.errors import VENDOR, error_from_body

log = logging.getLogger(__name__)


def map_done_reason(reason: Any, has_tool_calls: bool = False) -> str:
    """PROTOCOLS.md 2.5: stop/""/load/unload -> stop, length -> length."""
    if has_tool_calls:
        return "tool_calls"
    if reason == "length":
        return "length"
    if reason not in (None, "", "stop", "load", "unload"):
        log.warning("ollama: unknown done_reason %r mapped to stop", reason)
    return "stop"


def usage_from(body: Mapping[str, Any]) -> dict[str, int]:
    """Usage from the counts Ollama omits when zero."""
    prompt = int(body.get("prompt_eval_count") or 0)
    completion = int(body.get("eval_count") or 0)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def created_from(value: Any) -> int:
    if isinstance(value, str) and value:
        try:
            return int(datetime.fromisoformat(value).timestamp())
        except ValueError:
            pass
    return now()


def convert_tool_calls(calls: Any) -> list[dict[str, Any]]:
    """Ollama tool calls (object arguments, maybe no id) -> canonical tool_calls."""
    out = []
    for call in calls or []:
        if not isinstance(call, dict):
            continue
        fn = call.get("function") or {}
        call_id = str(call.get("id") or synth_tool_id())
        out.append(tool_call(call_id, str(fn.get("name") or ""), fn.get("arguments")))
    return out


def parse_chat_response(body: Any, model_id: str = "") -> dict[str, Any]:
    """A non-streaming ``/api/chat`` answer -> ``chat.completion``."""
    if not isinstance(body, dict):
        raise DriverError(f"{VENDOR} returned an unexpected answer.", status=502)
    if "error" in body:
        raise error_from_body(200, body)
    msg = body.get("message") or {}
    tool_calls = convert_tool_calls(msg.get("tool_calls"))
    message = assistant_message(
        str(msg.get("content") or ""), tool_calls, str(msg.get("thinking") or "")
    )
    finish = map_done_reason(body.get("done_reason"), bool(tool_calls))
    return chat_completion(
        [choice(message, finish)],
        usage_from(body),
        str(body.get("model") or model_id),
        created=created_from(body.get("created_at")),
    )


class OllamaStreamTranslator:
    """NDJSON ``/api/chat`` lines -> canonical chunks (pure, stateful).

    ``feed(line)`` takes one parsed JSON line; ``finish()`` is called at EOF and
    raises when the stream ended before Ollama's ``done: true`` line.
    """

    def __init__(self) -> None:
        self.started = False
        self.done = False
        self.tool_count = 0

    def _start(self) -> list[dict[str, Any]]:
        if self.started:
            return []
        self.started = True
        return [role_chunk()]

    def feed(self, event: Mapping[str, Any]) -> list[dict[str, Any]]:
        if not isinstance(event, Mapping):
            raise DriverError(f"{VENDOR} streamed an unexpected line.", status=502)
        if "error" in event:
            raise error_from_body(200, dict(event))
        if self.done:
            return []
        out = self._start()
        msg = event.get("message") or {}
        if msg.get("thinking"):
            out.append(chunk({"reasoning_content": str(msg["thinking"])}))
        if msg.get("content"):
            out.append(chunk({"content": str(msg["content"])}))
        for call in convert_tool_calls(msg.get("tool_calls")):
            k = self.tool_count
            self.tool_count += 1
            fn = call["function"]
            start = tool_call_start(k, call["id"], fn["name"])
            out.append(chunk({"tool_calls": [start]}))
            if fn["arguments"]:
                frag = tool_call_arguments(k, fn["arguments"])
                out.append(chunk({"tool_calls": [frag]}))
        if event.get("done"):
            self.done = True
            finish = map_done_reason(event.get("done_reason"), self.tool_count > 0)
            out.append(chunk({}, finish))
            out.append(usage_chunk(usage_from(event)))
        return out

    def finish(self) -> list[dict[str, Any]]:
        if not self.done:
            raise DriverError(
                f"{VENDOR} stream ended before it was done.",
                status=502,
                code="upstream_error",
            )
        return []
