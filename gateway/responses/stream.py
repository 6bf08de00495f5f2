"""Canonical stream chunks as Responses SSE events, in OpenAI's order (pure).

``EventStream(skeleton)`` (``response.skeleton``) is fed one completion's
canonical chunks and returns the events each makes, SSE-encoded
(``event: <type>\\ndata: <json>\\n\\n``), every one with ``type`` and a
``sequence_number`` counting from 0:

- ``start()``: ``response.created``, ``response.in_progress``;
- per output item, one at a time: ``response.output_item.added``, then for a
  message ``response.content_part.added`` / ``response.output_text.delta``\\*
  (or ``refusal``), for a function call
  ``response.function_call_arguments.delta``\\*, for reasoning text
  ``response.reasoning_text.delta``\\*; an item is closed (its ``.done``
  events, ``response.output_item.done``) when the next one opens;
- ``finish()``: the last item's ``.done`` events, then ``response.completed``
  (or ``response.incomplete``) with the whole response;
- ``error()``: ``response.failed`` with the output so far, then an ``error``
  event. openai-python yields ``response.failed`` like any event, but raises
  ``APIError`` on an event whose data has an ``error`` object, so the
  ``error`` event carries one (OpenAI's own error events do) beside the
  ``code``/``message``/``param`` its type declares.

``response`` is the Response as it stands (the final one after ``finish()``
or ``error()``), for storing.
"""

from __future__ import annotations

from typing import Any

from gateway.anthropic.stream import event
from gateway.responses import response as shapes
from gateway.responses.ids import new_id

# Error codes a Response object's ``error`` may carry (openai-python's
# ``ResponseError.code``) that a gateway failure can be; others are server_error.
FAILED_CODES = frozenset({"server_error", "rate_limit_exceeded"})


class EventStream:
    """Turns the canonical chunks of one completion into Responses events."""

    def __init__(self, skeleton: dict[str, Any]) -> None:
        self.response = skeleton
        self.sequence = 0
        self.started = False
        self.done = False
        self.output: list[dict[str, Any]] = []
        self.open: dict[str, Any] | None = None  # the item being streamed
        self.index: dict[str, int] = {}  # item id → output index
        self.calls: dict[int, dict[str, Any]] = {}  # canonical index → item
        self.finish_reason: str | None = None
        self.usage: dict[str, Any] | None = None

    def _event(self, kind: str, **fields: Any) -> bytes:
        data = {"type": kind, "sequence_number": self.sequence, **fields}
        self.sequence += 1
        return event(kind, data)

    def _lifecycle(self, kind: str) -> bytes:
        return self._event(kind, response=self.response)

    # -- the stream's ends -----------------------------------------------------------

    def start(self) -> list[bytes]:
        """``response.created`` and ``response.in_progress`` (once)."""
        if self.started:
            return []
        self.started = True
        return [
            self._lifecycle("response.created"),
            self._lifecycle("response.in_progress"),
        ]

    def feed(self, chunk: dict[str, Any]) -> list[bytes]:
        """The events one canonical chunk makes (none after the end)."""
        if self.done:
            return []
        out = self.start()
        if isinstance(chunk.get("usage"), dict):
            self.usage = chunk["usage"]
        for choice in chunk.get("choices") or []:
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            reasoning = delta.get("reasoning_content")
            if isinstance(reasoning, str) and reasoning:
                out.extend(self._reasoning(reasoning))
            for kind in ("output_text", "refusal"):
                text = delta.get("content" if kind == "output_text" else "refusal")
                if isinstance(text, str) and text:
                    out.extend(self._text(kind, text))
            for call in delta.get("tool_calls") or []:
                if isinstance(call, dict):
                    out.extend(self._tool_call(call))
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]
        return out

    def finish(self, completed_at: int | None = None) -> list[bytes]:
        """The last item's ``.done`` events, then the final lifecycle event."""
        if self.done:
            return []
        out = self.start()
        out.extend(self._close())
        self.done = True
        self.response = shapes.finished(
            self.response, self.output, self.finish_reason, self.usage, completed_at
        )
        kind = f"response.{self.response['status']}"
        out.append(self._lifecycle(kind))
        return out

    def error(self, code: str, message: str) -> list[bytes]:
        """``response.failed`` and the ``error`` event a broken stream ends on."""
        if self.done:
            return []
        out = self.start()
        self.done = True
        for item in self.output:
            if item.get("status") == "in_progress":
                item["status"] = "incomplete"
        self.response = {
            **self.response,
            "status": "failed",
            "error": {
                "code": code if code in FAILED_CODES else "server_error",
                "message": message,
            },
            "output": self.output,
            "usage": shapes.usage(self.usage),
        }
        out.append(self._lifecycle("response.failed"))
        error = {
            "type": "server_error",
            "code": code,
            "message": message,
            "param": None,
        }
        out.append(
            self._event("error", code=code, message=message, param=None, error=error)
        )
        return out

    # -- items -----------------------------------------------------------------------

    def _add(self, item: dict[str, Any]) -> list[bytes]:
        out = self._close()
        self.index[item["id"]] = len(self.output)
        self.output.append(item)
        self.open = item
        out.append(
            self._event(
                "response.output_item.added", output_index=self.at(item), item=item
            )
        )
        return out

    def at(self, item: dict[str, Any]) -> int:
        """The output index of ``item``."""
        return self.index[item["id"]]

    def _close(self) -> list[bytes]:
        """The open item's ``.done`` events, in OpenAI's order."""
        item, self.open = self.open, None
        if item is None:
            return []
        index = self.at(item)
        ids = {"item_id": item["id"], "output_index": index}
        out: list[bytes] = []
        if item["type"] in ("message", "reasoning"):
            for k, part in enumerate(item["content"]):
                out.append(self._part_done(part, ids, k))
                out.append(
                    self._event(
                        "response.content_part.done",
                        **ids,
                        content_index=k,
                        part=part,
                    )
                )
        elif item["type"] == "function_call":
            out.append(
                self._event(
                    "response.function_call_arguments.done",
                    **ids,
                    arguments=item["arguments"],
                )
            )
        if "status" in item:
            item["status"] = (
                "incomplete"
                if item["type"] == "message" and self.finish_reason in shapes.INCOMPLETE
                else "completed"
            )
        out.append(
            self._event("response.output_item.done", output_index=index, item=item)
        )
        return out

    def _part_done(self, part: dict[str, Any], ids: dict[str, Any], k: int) -> bytes:
        kind = part["type"]
        if kind == "output_text":
            return self._event(
                "response.output_text.done",
                **ids,
                content_index=k,
                text=part["text"],
                logprobs=[],
            )
        if kind == "refusal":
            return self._event(
                "response.refusal.done", **ids, content_index=k, refusal=part["refusal"]
            )
        return self._event(
            "response.reasoning_text.done", **ids, content_index=k, text=part["text"]
        )

    def _part(self, kind: str) -> tuple[list[bytes], dict[str, Any], int]:
        """The open item's last part if it is of ``kind``, else a new one."""
        assert self.open is not None
        item = self.open
        content = item["content"]
        if content and content[-1]["type"] == kind:
            return [], content[-1], len(content) - 1
        if kind == "output_text":
            part = shapes.text_part("")
        elif kind == "refusal":
            part = shapes.refusal_part("")
        else:
            part = {"type": "reasoning_text", "text": ""}
        content.append(part)
        k = len(content) - 1
        added = self._event(
            "response.content_part.added",
            item_id=item["id"],
            output_index=self.at(item),
            content_index=k,
            part=part,
        )
        return [added], part, k

    def _reasoning(self, text: str) -> list[bytes]:
        out: list[bytes] = []
        if self.open is None or self.open["type"] != "reasoning":
            item = shapes.reasoning_item(new_id("rs"), "")
            item["content"] = []
            out.extend(self._add(item))
        added, part, k = self._part("reasoning_text")
        out.extend(added)
        part["text"] += text
        assert self.open is not None
        out.append(
            self._event(
                "response.reasoning_text.delta",
                item_id=self.open["id"],
                output_index=self.at(self.open),
                content_index=k,
                delta=text,
            )
        )
        return out

    def _text(self, kind: str, text: str) -> list[bytes]:
        out: list[bytes] = []
        if self.open is None or self.open["type"] != "message":
            out.extend(self._add(shapes.message_item(new_id("msg"), [], "in_progress")))
        added, part, k = self._part(kind)
        out.extend(added)
        assert self.open is not None
        ids = {"item_id": self.open["id"], "output_index": self.at(self.open)}
        if kind == "output_text":
            part["text"] += text
            out.append(
                self._event(
                    "response.output_text.delta",
                    **ids,
                    content_index=k,
                    delta=text,
                    logprobs=[],
                )
            )
        else:
            part["refusal"] += text
            out.append(
                self._event(
                    "response.refusal.delta", **ids, content_index=k, delta=text
                )
            )
        return out

    def _tool_call(self, call: dict[str, Any]) -> list[bytes]:
        k = call.get("index", 0)
        function = call.get("function") or {}
        out: list[bytes] = []
        if k not in self.calls:
            item = shapes.function_call_item(
                new_id("fc"),
                call.get("id") or "",
                function.get("name") or "",
                "",
                "in_progress",
            )
            self.calls[k] = item
            out.extend(self._add(item))
        item = self.calls[k]
        arguments = function.get("arguments")
        if isinstance(arguments, str) and arguments:
            # A fragment for a call already closed (no driver interleaves
            # calls) still reaches the final response rather than being lost.
            item["arguments"] += arguments
            out.append(
                self._event(
                    "response.function_call_arguments.delta",
                    item_id=item["id"],
                    output_index=self.at(item),
                    delta=arguments,
                )
            )
        return out
