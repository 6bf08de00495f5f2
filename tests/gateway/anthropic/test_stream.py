"""Canonical stream chunks translated to Anthropic SSE events (pure).

Every stream is parsed back from its bytes, checked against the order
Anthropic's protocol demands, and accumulated into the final message the way
the SDKs do (block by index, text concatenated, tool input JSON joined).
"""

from __future__ import annotations

import json
from typing import Any

import orjson

from gateway.anthropic.stream import EventStream, ping
from providers.drivers.canonical import (
    chunk,
    role_chunk,
    tool_call_arguments,
    tool_call_start,
    usage_chunk,
)

USAGE = {"prompt_tokens": 20, "completion_tokens": 9, "total_tokens": 29}


def parse(raw: list[bytes]) -> list[tuple[str, dict[str, Any]]]:
    """Each SSE event as (event name, data); the name must repeat the data's type."""
    events = []
    for item in raw:
        assert item.endswith(b"\n\n")
        lines = item[:-2].split(b"\n")
        assert len(lines) == 2, item
        assert lines[0].startswith(b"event: ")
        assert lines[1].startswith(b"data: ")
        name = lines[0][len(b"event: ") :].decode()
        data = orjson.loads(lines[1][len(b"data: ") :])
        assert data["type"] == name
        events.append((name, data))
    return events


def run(chunks: list[dict[str, Any]], model: str = "claude-x") -> list[tuple[str, Any]]:
    stream = EventStream(model)
    raw: list[bytes] = []
    for item in chunks:
        raw.extend(stream.feed(item))
    raw.extend(stream.finish())
    assert stream.feed(role_chunk()) == []  # nothing after the end
    assert stream.finish() == []
    return parse(raw)


def check_order(events: list[tuple[str, Any]]) -> None:
    """Anthropic's grammar: start, blocks 0..n each start/delta*/stop, delta, stop."""
    names = [name for name, _ in events]
    assert names[0] == "message_start"
    assert names[-2:] == ["message_delta", "message_stop"]
    expected, open_index = 0, None
    for name, data in events[1:-2]:
        if name == "content_block_start":
            assert open_index is None
            assert data["index"] == expected
            open_index, expected = expected, expected + 1
        elif name == "content_block_delta":
            assert data["index"] == open_index
        elif name == "content_block_stop":
            assert data["index"] == open_index
            open_index = None
        else:
            raise AssertionError(name)
    assert open_index is None


def accumulate(events: list[tuple[str, Any]]) -> dict[str, Any]:
    """The final message, built as the SDKs build it."""
    message: dict[str, Any] = {}
    buffers: dict[int, str] = {}
    for name, data in events:
        if name == "message_start":
            message = json.loads(json.dumps(data["message"]))
        elif name == "content_block_start":
            message["content"].append(dict(data["content_block"]))
        elif name == "content_block_delta":
            block, delta = message["content"][data["index"]], data["delta"]
            if delta["type"] == "text_delta":
                block["text"] += delta["text"]
            else:
                assert delta["type"] == "input_json_delta"
                buffers[data["index"]] = (
                    buffers.get(data["index"], "") + delta["partial_json"]
                )
        elif name == "content_block_stop":
            if data["index"] in buffers:
                message["content"][data["index"]]["input"] = json.loads(
                    buffers[data["index"]]
                )
        elif name == "message_delta":
            message.update(data["delta"])
            message["usage"].update(data["usage"])
    return message


def test_text_stream() -> None:
    events = run(
        [
            role_chunk(),
            chunk({"content": "Hel"}),
            chunk({"content": "lo"}),
            chunk({}, "stop"),
            usage_chunk(USAGE),
        ]
    )
    check_order(events)
    assert [name for name, _ in events] == [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    start = events[0][1]["message"]
    assert start["id"].startswith("msg_")
    assert start["model"] == "claude-x"
    assert start["content"] == []
    assert start["stop_reason"] is None
    assert events[1][1]["content_block"] == {"type": "text", "text": ""}
    assert events[2][1]["delta"] == {"type": "text_delta", "text": "Hel"}
    assert events[5][1] == {
        "type": "message_delta",
        "delta": {"stop_reason": "end_turn", "stop_sequence": None},
        "usage": {
            "input_tokens": 20,
            "output_tokens": 9,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        },
    }
    final = accumulate(events)
    assert final["content"] == [{"type": "text", "text": "Hello"}]
    assert final["usage"]["input_tokens"] == 20


def test_tool_calls_interleaved_with_text() -> None:
    events = run(
        [
            role_chunk(),
            chunk({"content": "Checking both."}),
            chunk({"tool_calls": [tool_call_start(0, "toolu_A", "get_weather")]}),
            chunk({"tool_calls": [tool_call_arguments(0, '{"city"')]}),
            chunk({"tool_calls": [tool_call_arguments(0, ': "Paris"}')]}),
            chunk({"tool_calls": [tool_call_start(1, "call_B", "get_time")]}),
            chunk({"tool_calls": [tool_call_arguments(1, '{"tz": "CET"}')]}),
            chunk({"content": "And then"}),
            chunk({"content": " done."}),
            chunk({"tool_calls": [tool_call_start(2, "call_C", "noop")]}),
            chunk({}, "tool_calls"),
            usage_chunk(USAGE),
        ]
    )
    check_order(events)
    starts = [d["content_block"] for n, d in events if n == "content_block_start"]
    assert starts == [
        {"type": "text", "text": ""},
        {"type": "tool_use", "id": "toolu_A", "name": "get_weather", "input": {}},
        {"type": "tool_use", "id": "call_B", "name": "get_time", "input": {}},
        {"type": "text", "text": ""},
        {"type": "tool_use", "id": "call_C", "name": "noop", "input": {}},
    ]
    final = accumulate(events)
    assert final["content"] == [
        {"type": "text", "text": "Checking both."},
        {
            "type": "tool_use",
            "id": "toolu_A",
            "name": "get_weather",
            "input": {"city": "Paris"},
        },
        {
            "type": "tool_use",
            "id": "call_B",
            "name": "get_time",
            "input": {"tz": "CET"},
        },
        {"type": "text", "text": "And then done."},
        {"type": "tool_use", "id": "call_C", "name": "noop", "input": {}},
    ]
    assert final["stop_reason"] == "tool_use"


def test_whole_tool_call_in_one_chunk() -> None:
    # Gemini and Ollama drivers send a call's id, name and arguments at once.
    start = tool_call_start(0, "call_1", "f")
    start["function"]["arguments"] = '{"x": 1}'
    events = run([role_chunk(), chunk({"tool_calls": [start]}), chunk({}, "stop")])
    check_order(events)
    final = accumulate(events)
    assert final["content"] == [
        {"type": "tool_use", "id": "call_1", "name": "f", "input": {"x": 1}}
    ]
    assert final["stop_reason"] == "tool_use"  # stop beside tool calls
    deltas = [d["delta"] for n, d in events if n == "content_block_delta"]
    assert deltas == [{"type": "input_json_delta", "partial_json": '{"x": 1}'}]


def test_empty_argument_fragments_are_skipped() -> None:
    events = run(
        [
            chunk({"tool_calls": [tool_call_start(0, "c", "f")]}),
            chunk({"tool_calls": [tool_call_arguments(0, "")]}),
            chunk({}, "tool_calls"),
        ]
    )
    assert [n for n, _ in events].count("content_block_delta") == 0
    assert accumulate(events)["content"][0]["input"] == {}


def test_empty_completion() -> None:
    events = run([role_chunk(), chunk({"content": ""}), chunk({}, "stop")])
    check_order(events)
    assert [name for name, _ in events] == [
        "message_start",
        "message_delta",
        "message_stop",
    ]
    final = accumulate(events)
    assert final["content"] == []
    assert final["usage"]["output_tokens"] == 0


def test_no_chunks_at_all_still_makes_a_whole_message() -> None:
    events = run([])
    assert [name for name, _ in events] == [
        "message_start",
        "message_delta",
        "message_stop",
    ]


def test_stop_reasons_in_the_stream() -> None:
    def reason(*chunks: dict[str, Any]) -> Any:
        return run(list(chunks))[-2][1]["delta"]["stop_reason"]

    assert reason(chunk({"content": "x"}), chunk({}, "length")) == "max_tokens"
    assert reason(chunk({"content": "x"}), chunk({}, "content_filter")) == "refusal"
    assert reason(chunk({"content": "x"})) == "end_turn"  # none said: a plain end
    named = chunk({}, "stop")
    named["choices"][0]["stop_sequence"] = "END"
    delta = run([chunk({"content": "x"}), named])[-2][1]["delta"]
    assert delta == {"stop_reason": "stop_sequence", "stop_sequence": "END"}


def test_usage_with_cache_and_usage_on_the_finish_chunk() -> None:
    finish = chunk({}, "stop")
    finish["usage"] = {
        "prompt_tokens": 100,
        "completion_tokens": 4,
        "prompt_tokens_details": {"cached_tokens": 60},
    }
    events = run([chunk({"content": "x"}), finish])
    assert events[-2][1]["usage"] == {
        "input_tokens": 40,
        "output_tokens": 4,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 60,
    }


def test_envelope_fields_and_other_choices_are_ignored() -> None:
    enveloped = chunk({"content": "a"})
    enveloped.update(id="chatcmpl-1", object="chat.completion.chunk", usage=None)
    other = chunk({"content": "b"}, index=1)
    reasoning = chunk({"reasoning_content": "hmm"})
    final = accumulate(run([enveloped, other, reasoning, chunk({}, "stop")]))
    assert final["content"] == [{"type": "text", "text": "a"}]


def test_refusal_deltas_are_text() -> None:
    final = accumulate(run([chunk({"refusal": "No."}), chunk({}, "content_filter")]))
    assert final["content"] == [{"type": "text", "text": "No."}]
    assert final["stop_reason"] == "refusal"


def test_error_event_ends_the_stream() -> None:
    stream = EventStream("m")
    raw = stream.feed(chunk({"content": "partial"}))
    raw.append(stream.error("overloaded_error", "Upstream overloaded"))
    assert stream.feed(chunk({"content": "more"})) == []
    assert stream.finish() == []
    events = parse(raw)
    assert [n for n, _ in events] == [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "error",
    ]
    assert events[-1][1] == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "Upstream overloaded"},
    }


def test_error_before_anything() -> None:
    raw = EventStream("m").error("api_error", "boom")
    assert parse([raw]) == [
        ("error", {"type": "error", "error": {"type": "api_error", "message": "boom"}})
    ]


def test_ping() -> None:
    assert ping() == b'event: ping\ndata: {"type":"ping"}\n\n'


def test_each_stream_has_its_own_message_id() -> None:
    first = run([chunk({"content": "x"})])[0][1]["message"]["id"]
    second = run([chunk({"content": "x"})])[0][1]["message"]["id"]
    assert first != second


def test_a_late_fragment_for_an_earlier_call_keeps_its_index() -> None:
    # No driver interleaves calls' arguments; if one did, the fragment is sent
    # with its own block's index (the SDKs accumulate by index), never lost.
    events = run(
        [
            chunk({"tool_calls": [tool_call_start(0, "a", "f")]}),
            chunk({"tool_calls": [tool_call_start(1, "b", "g")]}),
            chunk({"tool_calls": [tool_call_arguments(0, '{"x": 1}')]}),
            chunk({}, "tool_calls"),
        ]
    )
    deltas = [d for n, d in events if n == "content_block_delta"]
    assert deltas == [
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "input_json_delta", "partial_json": '{"x": 1}'},
        }
    ]


def test_tool_calls_finish_without_a_call_is_end_turn() -> None:
    events = run([chunk({"content": "No tool needed."}), chunk({}, "tool_calls")])
    check_order(events)
    assert accumulate(events)["stop_reason"] == "end_turn"
