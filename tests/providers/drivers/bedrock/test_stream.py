"""bedrock: stream translation (vendor events → canonical chunks)."""

from __future__ import annotations

from typing import Any

import pytest

from providers.drivers.bedrock.response import (
    StreamTranslator,
)
from providers.drivers.errors import DriverError


def test_stream_translator_handles_interleaved_text_and_several_tools() -> None:
    events: list[tuple[str, dict[str, Any]]] = [
        ("messageStart", {"role": "assistant"}),
        ("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Let me "}}),
        ("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "check."}}),
        ("contentBlockStop", {"contentBlockIndex": 0}),
        (
            "contentBlockStart",
            {
                "contentBlockIndex": 1,
                "start": {"toolUse": {"toolUseId": "t_a", "name": "get_weather"}},
            },
        ),
        (
            "contentBlockDelta",
            {"contentBlockIndex": 1, "delta": {"toolUse": {"input": '{"city":'}}},
        ),
        (
            "contentBlockDelta",
            {"contentBlockIndex": 1, "delta": {"toolUse": {"input": ""}}},
        ),
        (
            "contentBlockDelta",
            {"contentBlockIndex": 1, "delta": {"toolUse": {"input": '"Paris"}'}}},
        ),
        ("contentBlockStop", {"contentBlockIndex": 1}),
        (
            "contentBlockStart",
            {
                "contentBlockIndex": 3,
                "start": {"toolUse": {"toolUseId": "t_b", "name": "get_time"}},
            },
        ),
        (
            "contentBlockDelta",
            {"contentBlockIndex": 3, "delta": {"toolUse": {"input": "{}"}}},
        ),
        ("contentBlockStop", {"contentBlockIndex": 3}),
        ("messageStop", {"stopReason": "tool_use"}),
        (
            "metadata",
            {
                "usage": {"inputTokens": 11, "outputTokens": 7, "totalTokens": 18},
                "metrics": {"latencyMs": 3},
            },
        ),
    ]
    translator = StreamTranslator()
    chunks = [c for name, payload in events for c in translator.feed(name, payload)]
    chunks += translator.finish()
    assert chunks[0] == {
        "choices": [
            {
                "index": 0,
                "delta": {"role": "assistant", "content": ""},
                "finish_reason": None,
            }
        ]
    }
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    assert [d["content"] for d in deltas[1:] if "content" in d] == ["Let me ", "check."]
    calls = [d["tool_calls"][0] for d in deltas if "tool_calls" in d]
    assert calls == [
        {
            "index": 0,
            "id": "t_a",
            "type": "function",
            "function": {"name": "get_weather", "arguments": ""},
        },
        {"index": 0, "function": {"arguments": '{"city":'}},
        {"index": 0, "function": {"arguments": '"Paris"}'}},
        {
            "index": 1,
            "id": "t_b",
            "type": "function",
            "function": {"name": "get_time", "arguments": ""},
        },
        {"index": 1, "function": {"arguments": "{}"}},
    ]
    assert chunks[-2]["choices"][0] == {
        "index": 0,
        "delta": {},
        "finish_reason": "tool_calls",
    }
    assert chunks[-1] == {
        "choices": [],
        "usage": {
            "prompt_tokens": 11,
            "completion_tokens": 7,
            "total_tokens": 18,
            "prompt_tokens_details": {"cached_tokens": 0},
        },
    }


def test_stream_translator_rejects_a_stream_without_message_stop() -> None:
    translator = StreamTranslator()
    translator.feed(
        "contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "x"}}
    )
    with pytest.raises(DriverError):
        translator.finish()
