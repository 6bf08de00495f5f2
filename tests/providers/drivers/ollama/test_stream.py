"""ollama: stream translation (vendor events → canonical chunks)."""

from __future__ import annotations

import json

import pytest

from providers.drivers.errors import DriverError
from providers.drivers.ollama.response import (
    OllamaStreamTranslator,
)
from tests.providers.drivers.ollama.support import (
    CALL_ID_RE,
    MODEL,
    _lines,
    _run,
    body_for,
)
from tests.providers.drivers.vectors import user


def test_minimal_body_always_sends_stream():
    body = body_for({"model": "alias", "messages": [user("hi")]})
    assert body == {
        "model": MODEL,
        "messages": [{"role": "user", "content": "hi"}],
        "stream": False,
    }
    assert body_for({"messages": [user("hi")]}, stream=True)["stream"] is True


def test_stream_text():
    chunks = _run(_lines({"content": "Hel"}, {"content": ""}, {"content": "lo"}))
    assert chunks == [
        {
            "choices": [
                {
                    "index": 0,
                    "delta": {"role": "assistant", "content": ""},
                    "finish_reason": None,
                }
            ]
        },
        {"choices": [{"index": 0, "delta": {"content": "Hel"}, "finish_reason": None}]},
        {"choices": [{"index": 0, "delta": {"content": "lo"}, "finish_reason": None}]},
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
        {
            "choices": [],
            "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18},
        },
    ]


def test_stream_interleaved_text_and_multiple_tools():
    chunks = _run(
        _lines(
            {"content": "", "thinking": "plan"},
            {"content": "Checking."},
            {
                "content": "",
                "tool_calls": [{"function": {"name": "a", "arguments": {"x": 1}}}],
            },
            {"content": " more"},
            {
                "content": "",
                "tool_calls": [
                    {"id": "call_b", "function": {"name": "b", "arguments": {}}},
                    {"function": {"name": "c", "arguments": {"y": [1, 2]}}},
                ],
            },
        )
    )
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    assert deltas[1] == {"reasoning_content": "plan"}
    assert deltas[2] == {"content": "Checking."}
    starts = [
        d["tool_calls"][0]
        for d in deltas
        if "tool_calls" in d and "id" in d["tool_calls"][0]
    ]
    assert [(s["index"], s["function"]["name"]) for s in starts] == [
        (0, "a"),
        (1, "b"),
        (2, "c"),
    ]
    assert all(
        s["type"] == "function" and s["function"]["arguments"] == "" for s in starts
    )
    assert starts[1]["id"] == "call_b"
    assert CALL_ID_RE.match(starts[0]["id"])
    args: dict[int, str] = {}
    for d in deltas:
        for tc in d.get("tool_calls", []):
            if "id" not in tc:
                assert set(tc) == {"index", "function"}
                assert set(tc["function"]) == {"arguments"}
            args[tc["index"]] = args.get(tc["index"], "") + tc["function"]["arguments"]
    assert [json.loads(args[k]) for k in range(3)] == [{"x": 1}, {}, {"y": [1, 2]}]
    assert {"content": " more"} in deltas
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"
    assert chunks[-1]["usage"]["total_tokens"] == 18


def test_stream_length_and_missing_counts():
    chunks = _run(_lines({"content": "a"}, done={"done_reason": "length"}))
    assert chunks[-2]["choices"][0]["finish_reason"] == "length"
    assert chunks[-1] == {
        "choices": [],
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
    }


def test_stream_error_line_and_truncation_raise():
    t = OllamaStreamTranslator()
    t.feed(_lines({"content": "a"})[0])
    with pytest.raises(DriverError) as err:
        t.feed({"error": "an error was encountered while running the model"})
    assert err.value.status == 502
    assert "encountered" in err.value.message
    t = OllamaStreamTranslator()
    t.feed(_lines({"content": "a"})[0])
    with pytest.raises(DriverError):
        t.finish()


def test_stream_only_done_line_still_emits_role_chunk():
    chunks = _run(_lines())
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert chunks[1]["choices"][0]["finish_reason"] == "stop"
