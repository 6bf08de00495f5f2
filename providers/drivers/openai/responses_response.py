"""OpenAI Responses answers and streams as canonical chat completions (pure).

A ``Response`` object becomes a ``chat.completion``: message items' output text
is the content, ``function_call`` items are the tool calls (``call_id`` as the
id), reasoning summaries the ``reasoning_content``; ``status: incomplete`` for
``max_output_tokens`` is ``finish_reason: length``. Usage keeps cached and
reasoning tokens. A stream of Responses events becomes the canonical chunks
(PROTOCOLS.md 1.6) through ``ResponsesStreamTranslator``; ``response.failed``
and ``error`` events are raised through OpenAI's one error mapping.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from providers.drivers.canonical import (
    assistant_message,
    chat_completion,
    choice,
    chunk,
    role_chunk,
    tool_call,
    tool_call_arguments,
    tool_call_start,
    usage_chunk,
)
from providers.drivers.config import DriverConfig
from providers.drivers.errors import DriverError
from providers.drivers.openai.errors import error_from_stream_event


def canonical_usage(usage: Any) -> dict[str, Any] | None:
    """Responses usage (``input_tokens``... with details) in the canonical shape;
    None when the vendor reported none."""
    if not isinstance(usage, Mapping):
        return None
    return usage_counts(usage)


def usage_counts(usage: Mapping[str, Any]) -> dict[str, Any]:
    """The canonical usage of a Responses ``usage`` (absent counts are 0)."""
    prompt = int(usage.get("input_tokens") or 0)
    completion = int(usage.get("output_tokens") or 0)
    cached = (usage.get("input_tokens_details") or {}).get("cached_tokens") or 0
    reasoning = (usage.get("output_tokens_details") or {}).get("reasoning_tokens") or 0
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": int(usage.get("total_tokens") or prompt + completion),
        "prompt_tokens_details": {"cached_tokens": int(cached)},
        "completion_tokens_details": {"reasoning_tokens": int(reasoning)},
    }


def failure(
    data: Mapping[str, Any], vendor: str, cfg: DriverConfig | None
) -> DriverError:
    """A ``response.failed`` response or an ``error`` event as a DriverError."""
    err = data.get("error")
    if not isinstance(err, Mapping):  # an ``error`` event carries it flat
        err = {k: data.get(k) for k in ("message", "code", "param")}
    kind = str(err.get("type") or err.get("code") or "")
    envelope = {"error": {**err, "type": kind}}
    return error_from_stream_event(envelope, vendor, cfg)


def finish_reason(response: Mapping[str, Any], has_calls: bool) -> str:
    """``length`` for a cut answer, ``content_filter`` for a filtered one."""
    if response.get("status") == "incomplete":
        reason = (response.get("incomplete_details") or {}).get("reason")
        return "content_filter" if reason == "content_filter" else "length"
    return "tool_calls" if has_calls else "stop"


def summary_text(item: Mapping[str, Any]) -> str:
    return "".join(
        str(part.get("text") or "")
        for part in item.get("summary") or ()
        if isinstance(part, Mapping)
    )


def parse_responses_response(
    data: Any, vendor: str = "OpenAI", cfg: DriverConfig | None = None
) -> dict[str, Any]:
    """A ``Response`` object as a canonical ``chat.completion``."""
    if not isinstance(data, dict) or not isinstance(data.get("output"), list):
        raise DriverError(f"{vendor} returned an unexpected answer.", status=502)
    if data.get("status") == "failed" or data.get("error"):
        raise failure(data, vendor, cfg)
    text, reasoning, calls = [], [], []
    for item in data["output"]:
        if not isinstance(item, Mapping):
            continue
        kind = item.get("type")
        if kind == "message":
            for part in item.get("content") or ():
                if part.get("type") == "output_text":
                    text.append(str(part.get("text") or ""))
        elif kind == "function_call":
            calls.append(
                tool_call(str(item["call_id"]), str(item["name"]), item["arguments"])
            )
        elif kind == "reasoning":
            reasoning.append(summary_text(item))
    message = assistant_message("".join(text), calls, "".join(reasoning))
    usage = data.get("usage")
    return chat_completion(
        [choice(message, finish_reason(data, bool(calls)))],
        usage_counts(usage if isinstance(usage, Mapping) else {}),
        str(data.get("model") or ""),
        created=int(data["created_at"]) if data.get("created_at") else None,
    )


class ResponsesStreamTranslator:
    """Responses stream events → canonical chunks (PROTOCOLS.md 1.6).

    A role chunk first; text deltas as content; each ``function_call`` item
    opens tool call 0, 1, 2... (id = its ``call_id``) and its argument deltas
    follow by item id; reasoning summary deltas as ``reasoning_content``; the
    terminal ``response.completed`` / ``response.incomplete`` closes the choice
    and sends the usage.
    """

    def __init__(self, vendor: str = "OpenAI", cfg: DriverConfig | None = None):
        self.vendor = vendor
        self.cfg = cfg
        self.started = False
        self.done = False
        self.calls: dict[str, int] = {}  # item id -> canonical tool index

    def feed(self, event: Any) -> list[dict[str, Any]]:
        if not isinstance(event, dict):
            return []
        kind = event.get("type")
        if kind == "error":
            raise failure(event, self.vendor, self.cfg)
        if kind == "response.failed":
            raise failure(event.get("response") or {}, self.vendor, self.cfg)
        out: list[dict[str, Any]] = []
        if not self.started:
            self.started = True
            out.append(role_chunk())
        if kind == "response.output_text.delta" and event.get("delta"):
            out.append(chunk({"content": event["delta"]}))
        elif kind == "response.reasoning_summary_text.delta" and event.get("delta"):
            out.append(chunk({"reasoning_content": event["delta"]}))
        elif kind == "response.output_item.added":
            item = event.get("item") or {}
            if item.get("type") == "function_call":
                out.extend(self._start_call(item))
        elif kind == "response.function_call_arguments.delta":
            index = self.calls.get(str(event.get("item_id")))
            if index is not None and event.get("delta"):
                call = tool_call_arguments(index, event["delta"])
                out.append(chunk({"tool_calls": [call]}))
        elif kind in ("response.completed", "response.incomplete"):
            out.extend(self._close(event.get("response") or {}))
        return out

    def finish(self) -> list[dict[str, Any]]:
        """At the end of the body: without a terminal event the answer was cut."""
        if not self.done:
            raise DriverError(
                f"{self.vendor} stream ended before the answer was complete.",
                status=502,
                code="upstream_error",
            )
        return []

    def _start_call(self, item: Mapping[str, Any]) -> list[dict[str, Any]]:
        index = len(self.calls)
        self.calls[str(item.get("id"))] = index
        start = tool_call_start(
            index, str(item.get("call_id")), str(item.get("name") or "")
        )
        out = [chunk({"tool_calls": [start]})]
        if item.get("arguments"):
            out.append(
                chunk({"tool_calls": [tool_call_arguments(index, item["arguments"])]})
            )
        return out

    def _close(self, response: Mapping[str, Any]) -> list[dict[str, Any]]:
        self.done = True
        out = [chunk({}, finish_reason(response, bool(self.calls)))]
        usage = canonical_usage(response.get("usage"))
        if usage is not None:
            out.append(usage_chunk(usage))
        return out
