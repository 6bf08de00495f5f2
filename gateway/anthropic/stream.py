"""Canonical stream chunks as Anthropic Messages SSE events (pure).

``EventStream(model)`` is fed the driver's canonical chunks in order and
returns the Anthropic events each one makes, SSE-encoded
(``event: <type>\\ndata: <json>\\n\\n``): ``message_start`` first, then per
content block ``content_block_start`` / ``content_block_delta``\\* /
``content_block_stop`` with indexes 0, 1, 2... across text and tool blocks,
and from ``finish()`` ``message_delta`` (stop_reason, cumulative usage) and
``message_stop``. ``error()`` is the ``error`` event a broken stream ends on;
``ping()`` a keep-alive.

The input token count is only known at the end (the usage chunk comes last),
so ``message_start`` carries zeros and ``message_delta`` the real counts
(the SDKs overwrite the start's counts with the delta's, which are cumulative).
"""

from __future__ import annotations

from typing import Any

import orjson

from gateway.anthropic.response import new_message_id, stop_reason, usage

# Seconds of upstream silence after which a ``ping`` event keeps the stream alive.
PING_INTERVAL = 10.0


def event(kind: str, data: dict[str, Any]) -> bytes:
    """One SSE event: ``event: <kind>`` and the compact JSON ``data`` line."""
    return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


def ping() -> bytes:
    return event("ping", {"type": "ping"})


def error_event(type: str, message: str) -> bytes:
    """The ``error`` event a broken stream ends on."""
    return event(
        "error", {"type": "error", "error": {"type": type, "message": message}}
    )


class EventStream:
    """Turns the canonical chunks of one completion into Anthropic events."""

    def __init__(self, model: str) -> None:
        self.model = model
        self.id = new_message_id()
        self.started = False
        self.done = False
        self.blocks = 0  # blocks opened so far: the next block's index
        self.open: int | None = None  # the index of the open block
        self.open_kind = ""
        self.tools: dict[int, int] = {}  # canonical tool-call index → block index
        self.has_tool_use = False
        self.finish_reason: str | None = None
        self.stop_sequence: str | None = None
        self.usage: dict[str, Any] | None = None

    # -- feeding ---------------------------------------------------------------------

    def feed(self, chunk: dict[str, Any]) -> list[bytes]:
        """The events one canonical chunk makes (none after the end)."""
        if self.done:
            return []
        out = self._start()
        if isinstance(chunk.get("usage"), dict):
            self.usage = chunk["usage"]
        for choice in chunk.get("choices") or []:
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            text = delta.get("content")
            if not text:
                text = delta.get("refusal")
            if isinstance(text, str) and text:
                out.extend(self._text(text))
            for call in delta.get("tool_calls") or []:
                if isinstance(call, dict):
                    out.extend(self._tool_call(call))
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]
                sequence = choice.get("stop_sequence")
                self.stop_sequence = sequence if isinstance(sequence, str) else None
        return out

    def finish(self) -> list[bytes]:
        """The closing events: the open block's stop, message_delta, message_stop."""
        if self.done:
            return []
        out = self._start()
        out.extend(self._close())
        self.done = True
        reason = stop_reason(self.finish_reason, self.has_tool_use, self.stop_sequence)
        out.append(
            event(
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {
                        "stop_reason": reason,
                        "stop_sequence": self.stop_sequence
                        if reason == "stop_sequence"
                        else None,
                    },
                    "usage": usage(self.usage),
                },
            )
        )
        out.append(event("message_stop", {"type": "message_stop"}))
        return out

    def error(self, type: str, message: str) -> bytes:
        """The ``error`` event a broken stream ends on; nothing follows it."""
        self.done = True
        return error_event(type, message)

    # -- blocks ----------------------------------------------------------------------

    def _start(self) -> list[bytes]:
        if self.started:
            return []
        self.started = True
        message: dict[str, Any] = {
            "id": self.id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": usage(None),
        }
        return [event("message_start", {"type": "message_start", "message": message})]

    def _open(self, block: dict[str, Any]) -> list[bytes]:
        out = self._close()
        self.open, self.open_kind = self.blocks, block["type"]
        self.blocks += 1
        out.append(
            event(
                "content_block_start",
                {
                    "type": "content_block_start",
                    "index": self.open,
                    "content_block": block,
                },
            )
        )
        return out

    def _close(self) -> list[bytes]:
        if self.open is None:
            return []
        index, self.open = self.open, None
        return [
            event("content_block_stop", {"type": "content_block_stop", "index": index})
        ]

    def _delta(self, index: int, delta: dict[str, Any]) -> bytes:
        return event(
            "content_block_delta",
            {"type": "content_block_delta", "index": index, "delta": delta},
        )

    def _text(self, text: str) -> list[bytes]:
        out = []
        if self.open is None or self.open_kind != "text":
            out.extend(self._open({"type": "text", "text": ""}))
        assert self.open is not None
        out.append(self._delta(self.open, {"type": "text_delta", "text": text}))
        return out

    def _tool_call(self, call: dict[str, Any]) -> list[bytes]:
        k = call.get("index", 0)
        function = call.get("function") or {}
        out: list[bytes] = []
        if k not in self.tools:
            self.has_tool_use = True
            out.extend(
                self._open(
                    {
                        "type": "tool_use",
                        "id": call.get("id") or "",
                        "name": function.get("name") or "",
                        "input": {},
                    }
                )
            )
            assert self.open is not None
            self.tools[k] = self.open
        arguments = function.get("arguments")
        if isinstance(arguments, str) and arguments:
            # A fragment for a call whose block is already closed (no driver
            # interleaves calls) keeps its own index rather than being lost.
            out.append(
                self._delta(
                    self.tools[k],
                    {"type": "input_json_delta", "partial_json": arguments},
                )
            )
        return out
