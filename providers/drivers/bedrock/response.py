"""Response translation: Converse answers and ConverseStream events → canonical.

Pure: the driver decodes the binary event stream with botocore and feeds each
event's type and JSON members here.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from providers.drivers.bedrock.errors import VENDOR, aws_error
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
from providers.drivers.errors import TransientDriverError, malformed_stream

log = logging.getLogger(__name__)


# Every event type ConverseStream sends (its exceptions come as their own
# message type).
STREAM_EVENTS = frozenset(
    {
        "messageStart",
        "contentBlockStart",
        "contentBlockDelta",
        "contentBlockStop",
        "messageStop",
        "metadata",
    }
)

_STOP_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "guardrail_intervened": "content_filter",
    "content_filtered": "content_filter",
    "malformed_model_output": "stop",
    "malformed_tool_use": "stop",
}


def map_stop_reason(reason: str | None) -> str:
    if reason in _STOP_REASONS:
        if reason.startswith("malformed"):
            log.warning("Bedrock stopped with %s", reason)
        return _STOP_REASONS[reason]
    if reason:
        log.warning("Unknown Bedrock stopReason %r", reason)
    return "stop"


def map_usage(usage: Mapping[str, Any] | None) -> dict[str, Any]:
    usage = usage or {}
    cache_read = int(usage.get("cacheReadInputTokens") or 0)
    cache_write = int(usage.get("cacheWriteInputTokens") or 0)
    prompt = int(usage.get("inputTokens") or 0) + cache_read + cache_write
    completion = int(usage.get("outputTokens") or 0)
    details = {"cached_tokens": cache_read}
    if cache_write:
        details["cache_creation_tokens"] = cache_write
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": details,
    }


def parse_converse_response(
    data: Mapping[str, Any], model: str, request_id: str | None = None
) -> dict[str, Any]:
    """A Converse response → canonical ``chat.completion``."""
    message = ((data.get("output") or {}).get("message")) or {}
    texts: list[str] = []
    reasoning: list[str] = []
    tool_calls: list[dict[str, Any]] = []
    for block in message.get("content") or []:
        if "text" in block:
            texts.append(str(block["text"]))
        elif "toolUse" in block:
            use = block["toolUse"]
            call_id, name = str(use.get("toolUseId") or ""), str(use.get("name") or "")
            tool_calls.append(tool_call(call_id, name, use.get("input") or {}))
        elif "reasoningContent" in block:
            text = ((block["reasoningContent"] or {}).get("reasoningText") or {}).get(
                "text"
            )
            if text:
                reasoning.append(str(text))
    message = assistant_message("".join(texts), tool_calls, "".join(reasoning))
    finish = map_stop_reason(data.get("stopReason"))
    usage = map_usage(data.get("usage"))
    return chat_completion([choice(message, finish)], usage, model, request_id)


class StreamTranslator:
    """ConverseStream events → canonical chunks (pure, stateful).

    ``feed(event_type, payload)`` takes one decoded event; tool-call indexes count
    tool blocks (0, 1, …), not Bedrock's ``contentBlockIndex``.
    """

    def __init__(self) -> None:
        self.started = False
        self.finished = False
        self.tool_index: dict[int, int] = {}
        self.pending_usage: dict[str, Any] | None = None
        self.usage_sent = False

    def _start(self) -> list[dict[str, Any]]:
        if self.started:
            return []
        self.started = True
        return [role_chunk()]

    def feed(self, event: str, payload: Mapping[str, Any]) -> list[dict[str, Any]]:
        out = self._start()
        if event == "contentBlockStart":
            use = (payload.get("start") or {}).get("toolUse")
            if use is not None:
                k = len(self.tool_index)
                self.tool_index[int(payload.get("contentBlockIndex") or 0)] = k
                call_id = str(use.get("toolUseId") or "")
                start = tool_call_start(k, call_id, str(use.get("name") or ""))
                out.append(chunk({"tool_calls": [start]}))
        elif event == "contentBlockDelta":
            delta = payload.get("delta") or {}
            block = int(payload.get("contentBlockIndex") or 0)
            if delta.get("text"):
                out.append(chunk({"content": str(delta["text"])}))
            elif "toolUse" in delta:
                fragment = str((delta["toolUse"] or {}).get("input") or "")
                if fragment and block in self.tool_index:
                    frag = tool_call_arguments(self.tool_index[block], fragment)
                    out.append(chunk({"tool_calls": [frag]}))
            elif "reasoningContent" in delta:
                text = (delta["reasoningContent"] or {}).get("text")
                if text:
                    out.append(chunk({"reasoning_content": str(text)}))
        elif event == "messageStop":
            if not self.finished:
                self.finished = True
                reason = map_stop_reason(payload.get("stopReason"))
                out.append(chunk({}, reason))
                out.extend(self._usage())
        elif event == "metadata":
            if payload.get("usage") is not None:
                self.pending_usage = map_usage(payload["usage"])
            if self.finished:
                out.extend(self._usage())
        return out

    def _usage(self) -> list[dict[str, Any]]:
        if self.pending_usage is None or self.usage_sent:
            return []
        self.usage_sent = True
        return [usage_chunk(self.pending_usage)]

    def finish(self) -> list[dict[str, Any]]:
        """Called at the end of the body; a stream without messageStop is broken."""
        if not self.finished:
            raise TransientDriverError(
                "Bedrock stream ended before the message was complete.",
                status=502,
                code="upstream_error",
            )
        return self._usage()


def decode_event(
    headers: Mapping[str, Any], payload: bytes
) -> tuple[str, dict[str, Any]]:
    """One event-stream message → (event type, JSON members); raises for exceptions."""
    kind = headers.get(":message-type", "event")
    try:
        body = json.loads(payload or b"{}")
    except ValueError:
        if kind == "event":
            raise malformed_stream(VENDOR, "invalid JSON") from None
        body = {}
    if not isinstance(body, dict):
        if kind == "event":
            raise malformed_stream(VENDOR, "not a JSON object")
        body = {}
    if kind == "exception":
        name = str(headers.get(":exception-type") or "internalServerException")
        code = name[:1].upper() + name[1:]
        message = str(body.get("message") or body.get("Message") or name)
        raise aws_error(code, message, 500)
    if kind == "error":
        code = str(headers.get(":error-code") or "InternalServerException")
        message = str(headers.get(":error-message") or code)
        raise aws_error(code, message, 500)
    event = str(headers.get(":event-type") or "")
    if kind != "event" or event not in STREAM_EVENTS:
        # A frame we cannot place may have carried part of the answer.
        raise malformed_stream(VENDOR, f"unknown {kind} {event!r}"[:80])
    return event, body
