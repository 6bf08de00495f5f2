"""Response translation: GenerateContentResponse answers and ``alt=sse`` stream
events → canonical completions and chunks (pure).
"""

from __future__ import annotations

import json
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
    usage_chunk,
)
from providers.drivers.errors import DriverError, TransientDriverError
from providers.drivers.gemini.errors import error_from_gemini
from providers.drivers.gemini.signatures import encode_tool_id

_FILTER_REASONS = {
    "SAFETY",
    "RECITATION",
    "BLOCKLIST",
    "PROHIBITED_CONTENT",
    "SPII",
    "LANGUAGE",
    "OTHER",
    "IMAGE_SAFETY",
    "IMAGE_PROHIBITED_CONTENT",
    "IMAGE_RECITATION",
    "IMAGE_OTHER",
    "NO_IMAGE",
}


def map_finish_reason(reason: str | None, has_tool_calls: bool) -> str:
    if reason == "MAX_TOKENS":
        return "length"
    if reason in _FILTER_REASONS:
        return "content_filter"
    return "tool_calls" if has_tool_calls else "stop"


def parse_usage(meta: Mapping[str, Any] | None) -> dict[str, Any]:
    meta = meta or {}
    thoughts = int(meta.get("thoughtsTokenCount") or 0)
    prompt = int(meta.get("promptTokenCount") or 0) + int(
        meta.get("toolUsePromptTokenCount") or 0
    )
    completion = int(meta.get("candidatesTokenCount") or 0) + thoughts
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {
            "cached_tokens": int(meta.get("cachedContentTokenCount") or 0)
        },
        "completion_tokens_details": {"reasoning_tokens": thoughts},
    }


def _tool_call(part: Mapping[str, Any]) -> dict[str, Any]:
    call = part.get("functionCall") or {}
    call_id = encode_tool_id(call.get("id"), part.get("thoughtSignature"))
    return tool_call(call_id, str(call.get("name") or ""), call.get("args") or {})


def parse_chat_response(data: Mapping[str, Any], model: str = "") -> dict[str, Any]:
    """A canonical chat.completion from a GenerateContentResponse."""
    choices = []
    candidates = data.get("candidates") or []
    for pos, cand in enumerate(candidates):
        texts: list[str] = []
        thoughts: list[str] = []
        calls: list[dict[str, Any]] = []
        for part in (cand.get("content") or {}).get("parts") or []:
            if "functionCall" in part:
                calls.append(_tool_call(part))
            elif isinstance(part.get("text"), str):
                (thoughts if part.get("thought") else texts).append(part["text"])
        message = assistant_message("".join(texts), calls, "".join(thoughts))
        finish = map_finish_reason(cand.get("finishReason"), bool(calls))
        choices.append(choice(message, finish, int(cand.get("index", pos))))
    if not choices:
        blocked = bool((data.get("promptFeedback") or {}).get("blockReason"))
        message = assistant_message("", [])
        choices.append(choice(message, "content_filter" if blocked else "stop"))
    return chat_completion(
        sorted(choices, key=lambda c: c["index"]),
        parse_usage(data.get("usageMetadata")),
        model or str(data.get("modelVersion") or ""),
        data.get("responseId"),
    )


class StreamTranslator:
    """GenerateContentResponse stream events → canonical chunks (pure)."""

    def __init__(self) -> None:
        self.started: set[int] = set()
        self.finished: set[int] = set()
        self.tool_counts: dict[int, int] = {}
        self.usage: dict[str, Any] | None = None

    def _start(self, index: int) -> list[dict[str, Any]]:
        if index in self.started:
            return []
        self.started.add(index)
        return [role_chunk(index)]

    def feed(self, event: Mapping[str, Any]) -> list[dict[str, Any]]:
        if "error" in event:
            raise error_from_gemini(0, event)
        out: list[dict[str, Any]] = []
        if event.get("usageMetadata"):
            self.usage = parse_usage(event["usageMetadata"])
        candidates = event.get("candidates") or []
        if not candidates and (event.get("promptFeedback") or {}).get("blockReason"):
            out += self._start(0)
            if 0 not in self.finished:
                self.finished.add(0)
                out.append(chunk({}, "content_filter"))
        for pos, cand in enumerate(candidates):
            idx = int(cand.get("index", pos))
            out += self._start(idx)
            for part in (cand.get("content") or {}).get("parts") or []:
                out += self._part(idx, part)
            reason = cand.get("finishReason")
            if reason and idx not in self.finished:
                self.finished.add(idx)
                has_tools = self.tool_counts.get(idx, 0) > 0
                finish = map_finish_reason(reason, has_tools)
                out.append(chunk({}, finish, idx))
        return out

    def _part(self, idx: int, part: Mapping[str, Any]) -> list[dict[str, Any]]:
        if "functionCall" in part:
            call = _tool_call(part)
            k = self.tool_counts.get(idx, 0)
            self.tool_counts[idx] = k + 1
            args = call["function"]["arguments"]
            call["function"]["arguments"] = ""
            start = chunk({"tool_calls": [{"index": k, **call}]}, index=idx)
            frag = tool_call_arguments(k, args)
            return [start, chunk({"tool_calls": [frag]}, index=idx)]
        text = part.get("text")
        if not isinstance(text, str) or not text:
            return []
        key = "reasoning_content" if part.get("thought") else "content"
        return [chunk({key: text}, index=idx)]

    def finish(self) -> list[dict[str, Any]]:
        if not self.started:
            raise DriverError("gemini ended the stream without an answer", status=502)
        out = []
        for idx in sorted(self.started - self.finished):
            self.finished.add(idx)
            has_tools = self.tool_counts.get(idx, 0) > 0
            out.append(chunk({}, "tool_calls" if has_tools else "stop", idx))
        if self.usage is not None:
            out.append(usage_chunk(self.usage))
        return out


class EventDecoder:
    """Lines of an ``alt=sse`` body → JSON payloads (pure).

    Besides ``data:`` events Gemini may append a raw, multi-line JSON error object
    (or an array of them) after the last event; those lines are buffered until
    they parse.
    """

    MAX_RAW = 1 << 20

    def __init__(self) -> None:
        self.data: list[str] = []
        self.raw: list[str] = []

    def feed_line(self, line: str) -> list[dict[str, Any]]:
        if self.raw or line.lstrip().startswith(("{", "[")):
            self.raw.append(line)
            return self._try_raw(final=False)
        if line == "":
            return self._flush_data()
        if line.startswith("data:"):
            self.data.append(line[5:].removeprefix(" "))
        return []  # comments, event:, id:, retry:

    def close(self) -> list[dict[str, Any]]:
        return self._flush_data() + self._try_raw(final=True)

    def _flush_data(self) -> list[dict[str, Any]]:
        if not self.data:
            return []
        text, self.data = "\n".join(self.data), []
        return _payloads(text)

    def _try_raw(self, final: bool) -> list[dict[str, Any]]:
        if not self.raw:
            return []
        text = "\n".join(self.raw)
        try:
            found = _payloads(text)
        except DriverError:
            if final or len(text) > self.MAX_RAW:
                raise
            return []
        self.raw = []
        return found


def _payloads(text: str) -> list[dict[str, Any]]:
    try:
        value = json.loads(text)
    except ValueError:
        raise TransientDriverError(
            "gemini sent an unreadable stream event", status=502
        ) from None
    items = value if isinstance(value, list) else [value]
    return [item for item in items if isinstance(item, dict)]
