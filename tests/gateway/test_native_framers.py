"""The pass-through framers hold the vendor's closing event back for ``done()``.

``gateway.relay`` records the call between ``done()`` and yielding what it
returns; a closing event relayed from ``feed`` would leave before the record,
so a worker killed right after answering would lose a completed call (or
record it as a 499). Pure: the framers are fed parsed events directly.
"""

from __future__ import annotations

import json

from gateway.native import NativeFramer as MessagesFramer
from gateway.responses_api import NativeFramer as ResponsesFramer
from gateway.responses_api import ResponsesRequest
from providers.drivers.openai.responses_raw import ResponsesUsage
from providers.drivers.passthrough import RawEvent, RawUsage


def raw(data: dict) -> RawEvent:
    return RawEvent(data["type"], data, json.dumps(data))


def test_message_stop_leaves_with_done_after_the_usage_is_known() -> None:
    usage = RawUsage(input_tokens=11)
    framer = MessagesFramer("house-claude", usage)
    start = {"type": "message_start", "message": {"model": "claude-x", "usage": {}}}
    (first,) = framer.feed(raw(start))
    assert b'"model":"house-claude"' in first
    usage.output_tokens = 7
    delta = {"type": "message_delta", "delta": {"stop_reason": "end_turn"}}
    assert framer.feed(raw(delta)) == [raw(delta).sse()]
    assert framer.feed(raw({"type": "message_stop"})) == []
    assert framer.usage is not None and framer.usage["completion_tokens"] == 7
    assert framer.done() == [raw({"type": "message_stop"}).sse()]


def test_the_completed_response_leaves_with_done_and_is_final_before() -> None:
    request = ResponsesRequest({"model": "m", "input": "hi"})
    framer = ResponsesFramer(request, "my-model", ResponsesUsage(input_tokens=5))
    created = {
        "type": "response.created",
        "sequence_number": 0,
        "response": {"id": "x"},
    }
    (out,) = framer.feed(raw(created))
    assert request.id.encode() in out and b'"model":"my-model"' in out
    completed = {
        "type": "response.completed",
        "sequence_number": 1,
        "response": {"id": "resp_vendor", "model": "gpt-x", "output": []},
    }
    assert framer.feed(raw(completed)) == []
    assert framer.final is not None and framer.final["id"] == request.id
    (closing,) = framer.done()
    assert b'"response.completed"' in closing and request.id.encode() in closing
