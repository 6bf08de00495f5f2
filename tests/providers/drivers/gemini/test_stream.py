"""gemini: stream translation (vendor events → canonical chunks)."""

from __future__ import annotations

import pytest

from providers.drivers.errors import DriverError
from providers.drivers.gemini.errors import error_from_gemini
from providers.drivers.gemini.response import (
    EventDecoder,
    StreamTranslator,
)
from providers.drivers.gemini.signatures import (
    decode_tool_id,
)
from providers.drivers.gemini.translate import build_chat_request
from tests.providers.drivers.gemini.support import (
    cand,
    cfg,
    feed_all,
    finish_of,
    google,
)
from tests.providers.drivers.vectors import user


def test_the_upstream_request_uses_the_header_and_the_bare_model_id() -> None:
    req = build_chat_request(
        cfg(),
        {"messages": [user("hi")]},
        "models/gemini-2.5-pro",
        True,
        {"x-goog-api-key": "k"},
    )
    assert req.url == (
        "https://generativelanguage.googleapis.com/v1beta/models/"
        "gemini-2.5-pro:streamGenerateContent?alt=sse"
    )
    assert req.headers["x-goog-api-key"] == "k"
    assert req.headers["Content-Type"] == "application/json"
    odd = build_chat_request(
        cfg("http://h"), {"messages": [user("hi")]}, "a/../b", False
    )
    assert odd.url == "http://h/v1beta/models/b:generateContent"


def test_an_invalid_api_key_400_is_an_upstream_auth_error() -> None:
    body = google(
        400,
        "INVALID_ARGUMENT",
        "API key not valid. Please pass a valid API key.",
        details=[
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "API_KEY_INVALID",
            }
        ],
    )
    err = error_from_gemini(400, body)
    assert (err.status, err.code, err.permanent) == (
        502,
        "upstream_auth_error",
        True,
    )


def test_a_recorded_text_stream_translates_to_canonical_chunks() -> None:
    events = [
        {**cand([{"text": "Hel"}]), "usageMetadata": {"promptTokenCount": 11}},
        cand([{"text": "lo"}]),
        {
            **cand([{"text": ""}], "STOP"),
            "usageMetadata": {"promptTokenCount": 11, "candidatesTokenCount": 7},
        },
    ]
    chunks = feed_all(events)
    assert chunks[0] == {
        "choices": [
            {
                "index": 0,
                "delta": {"role": "assistant", "content": ""},
                "finish_reason": None,
            }
        ]
    }
    assert chunks[1:3] == [
        {"choices": [{"index": 0, "delta": {"content": "Hel"}, "finish_reason": None}]},
        {"choices": [{"index": 0, "delta": {"content": "lo"}, "finish_reason": None}]},
    ]
    assert chunks[3] == {
        "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]
    }
    assert chunks[4]["choices"] == []
    assert chunks[4]["usage"]["prompt_tokens"] == 11
    assert chunks[4]["usage"]["completion_tokens"] == 7
    assert len(chunks) == 5


def test_interleaved_text_and_several_tools_stream_with_running_indexes() -> None:
    events = [
        cand([{"text": "thinking", "thought": True}]),
        cand([{"text": "Checking."}]),
        cand(
            [
                {
                    "functionCall": {"name": "get_weather", "args": {"city": "Paris"}},
                    "thoughtSignature": "QQ==",
                },
                {"functionCall": {"name": "get_time", "args": {}}},
            ]
        ),
        cand([{"text": ""}], "STOP"),
    ]
    chunks = feed_all(events)
    deltas = [c["choices"][0]["delta"] for c in chunks]
    assert deltas[1] == {"reasoning_content": "thinking"}
    assert deltas[2] == {"content": "Checking."}
    start0, args0, start1, args1 = (d["tool_calls"][0] for d in deltas[3:7])
    assert (start0["index"], start0["type"], start0["function"]) == (
        0,
        "function",
        {"name": "get_weather", "arguments": ""},
    )
    assert decode_tool_id(start0["id"])[1] == "QQ=="
    assert args0 == {"index": 0, "function": {"arguments": '{"city": "Paris"}'}}
    assert (start1["index"], start1["function"]["name"]) == (1, "get_time")
    assert args1 == {"index": 1, "function": {"arguments": "{}"}}
    assert finish_of(chunks) == ["tool_calls"]
    assert "usage" not in chunks[-1]


def test_stream_edge_cases_blocked_missing_finish_and_errors() -> None:
    blocked = feed_all([{"promptFeedback": {"blockReason": "OTHER"}}])
    assert finish_of(blocked) == ["content_filter"]
    unfinished = feed_all([cand([{"text": "cut"}])])
    assert finish_of(unfinished) == ["stop"]
    two = feed_all(
        [
            {
                "candidates": [
                    {
                        "index": 1,
                        "content": {"parts": [{"text": "b"}]},
                        "finishReason": "MAX_TOKENS",
                    }
                ]
            }
        ]
    )
    assert two[-1]["choices"][0] == {"index": 1, "delta": {}, "finish_reason": "length"}
    with pytest.raises(DriverError) as err:
        StreamTranslator().feed(
            {"error": {"code": 503, "message": "overloaded", "status": "UNAVAILABLE"}}
        )
    assert (err.value.status, err.value.code) == (503, "upstream_overloaded")
    with pytest.raises(DriverError):
        StreamTranslator().finish()  # a stream with no events at all


def test_the_event_decoder_reads_sse_and_a_raw_json_tail() -> None:
    decoder = EventDecoder()
    lines = [
        ": comment",
        'data: {"candidates": []}',
        "",
        "{",
        '  "error": {',
        '    "code": 500,',
        '    "message": "Internal"',
        "  }",
        "}",
    ]
    events = [e for line in lines for e in decoder.feed_line(line)] + decoder.close()
    assert events == [
        {"candidates": []},
        {"error": {"code": 500, "message": "Internal"}},
    ]
    broken = EventDecoder()
    broken.feed_line("{ not json")
    with pytest.raises(DriverError):
        broken.close()
