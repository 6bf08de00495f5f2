"""Canonical chat completions translated to Anthropic Messages (pure)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from gateway.anthropic.request import to_canonical
from gateway.anthropic.response import from_canonical
from providers.drivers.bedrock.response import map_usage as bedrock_usage
from providers.drivers.canonical import chat_completion, choice, tool_call
from providers.drivers.errors import DriverError


def completion(
    message: dict[str, Any], finish: str | None = "stop", **usage: Any
) -> dict[str, Any]:
    counts = {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17}
    counts.update(usage)
    return chat_completion([choice(message, finish)], counts, "vendor-model-id")  # type: ignore[arg-type]  # None finish: a vendor that sent none


def test_text_message() -> None:
    out = from_canonical(
        completion({"role": "assistant", "content": "Hello!"}), "claude-x"
    )
    assert re.fullmatch(r"msg_[A-Za-z0-9]{24}", out["id"])
    assert out == {
        "id": out["id"],
        "type": "message",
        "role": "assistant",
        "model": "claude-x",  # the name the caller sent, not the vendor id
        "content": [{"type": "text", "text": "Hello!"}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {
            "input_tokens": 12,
            "output_tokens": 5,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        },
    }
    again = from_canonical(completion({"role": "assistant", "content": "x"}), "m")
    assert again["id"] != out["id"]


def test_tool_calls_keep_ids_and_parse_input() -> None:
    message = {
        "role": "assistant",
        "content": "Let me check.",
        "tool_calls": [
            tool_call("toolu_01A", "get_weather", '{"city": "Paris"}'),
            tool_call("call_b", "get_time", ""),
        ],
    }
    out = from_canonical(completion(message, "tool_calls"), "m")
    assert out["content"] == [
        {"type": "text", "text": "Let me check."},
        {
            "type": "tool_use",
            "id": "toolu_01A",
            "name": "get_weather",
            "input": {"city": "Paris"},
        },
        {"type": "tool_use", "id": "call_b", "name": "get_time", "input": {}},
    ]
    assert out["stop_reason"] == "tool_use"


def test_tool_ids_round_trip_through_the_request() -> None:
    answer = from_canonical(
        completion(
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [tool_call("call_XYZ", "f", '{"a": [1, 2]}')],
            },
            "tool_calls",
        ),
        "m",
    )
    assert answer["content"] == [
        {"type": "tool_use", "id": "call_XYZ", "name": "f", "input": {"a": [1, 2]}}
    ]
    follow_up = to_canonical(
        {
            "model": "m",
            "max_tokens": 10,
            "messages": [
                {"role": "user", "content": "go"},
                {"role": "assistant", "content": answer["content"]},
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "tool_result",
                            "tool_use_id": "call_XYZ",
                            "content": "3",
                        }
                    ],
                },
            ],
        }
    )
    assert follow_up["messages"][1]["tool_calls"][0]["id"] == "call_XYZ"
    assert follow_up["messages"][1]["tool_calls"][0]["function"]["arguments"] == (
        '{"a": [1, 2]}'
    )
    assert follow_up["messages"][2]["tool_call_id"] == "call_XYZ"


@pytest.mark.parametrize(
    ("finish", "tools", "expected"),
    [
        ("stop", False, "end_turn"),
        ("length", False, "max_tokens"),
        ("tool_calls", True, "tool_use"),
        ("content_filter", False, "refusal"),
        ("function_call", True, "tool_use"),
        ("stop", True, "tool_use"),  # some vendors say stop beside tool calls
        (None, False, "end_turn"),
        ("length", True, "max_tokens"),  # cut off mid-call: not a finished call
        # A vendor that says tool_calls but sent none: Anthropic's tool_use
        # always comes with a tool_use block, and clients look for one.
        ("tool_calls", False, "end_turn"),
        ("function_call", False, "end_turn"),
    ],
)
def test_stop_reasons(finish: str | None, tools: bool, expected: str) -> None:
    message: dict[str, Any] = {"role": "assistant", "content": "x"}
    if tools:
        message["tool_calls"] = [tool_call("c1", "f", "{}")]
    out = from_canonical(completion(message, finish), "m")
    assert out["stop_reason"] == expected
    assert out["stop_sequence"] is None


def test_stop_sequence_when_the_completion_names_it() -> None:
    data = completion({"role": "assistant", "content": "1, 2, 3"})
    data["choices"][0]["stop_sequence"] = "4"
    out = from_canonical(data, "m")
    assert out["stop_reason"] == "stop_sequence"
    assert out["stop_sequence"] == "4"


def test_usage_with_cached_tokens() -> None:
    data = completion(
        {"role": "assistant", "content": "x"},
        prompt_tokens=1000,
        completion_tokens=7,
        prompt_tokens_details={"cached_tokens": 800, "cache_creation_tokens": 150},
    )
    assert from_canonical(data, "m")["usage"] == {
        "input_tokens": 50,
        "output_tokens": 7,
        "cache_creation_input_tokens": 150,
        "cache_read_input_tokens": 800,
    }


def test_missing_usage_is_zeros() -> None:
    data = completion({"role": "assistant", "content": "x"})
    data["usage"] = None
    assert from_canonical(data, "m")["usage"] == {
        "input_tokens": 0,
        "output_tokens": 0,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    }


def test_empty_content_is_an_empty_list() -> None:
    out = from_canonical(completion({"role": "assistant", "content": ""}), "m")
    assert out["content"] == []
    out = from_canonical(completion({"role": "assistant", "content": None}), "m")
    assert out["content"] == []
    out = from_canonical({"choices": [], "usage": None}, "m")
    assert out["content"] == []
    assert out["stop_reason"] == "end_turn"


def test_text_parts_and_refusal() -> None:
    parts = [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]
    out = from_canonical(completion({"role": "assistant", "content": parts}), "m")
    assert out["content"] == [{"type": "text", "text": "ab"}]
    refusal = {"role": "assistant", "content": None, "refusal": "I can't help."}
    out = from_canonical(completion(refusal, "content_filter"), "m")
    assert out["content"] == [{"type": "text", "text": "I can't help."}]
    assert out["stop_reason"] == "refusal"


def test_reasoning_content_is_not_a_block() -> None:
    message = {"role": "assistant", "content": "x", "reasoning_content": "thoughts"}
    out = from_canonical(completion(message), "m")
    assert out["content"] == [{"type": "text", "text": "x"}]


@pytest.mark.parametrize("arguments", ["{not json", "[1, 2]", '"text"', "42"])
def test_tool_arguments_that_are_not_an_object_are_the_upstreams_fault(
    arguments: str,
) -> None:
    message = {
        "role": "assistant",
        "content": None,
        "tool_calls": [tool_call("c1", "f", arguments)],
    }
    with pytest.raises(DriverError) as caught:
        from_canonical(completion(message, "tool_calls"), "m")
    assert caught.value.status == 502
    assert caught.value.code == "upstream_invalid_response"


def test_usage_of_a_bedrock_completion_keeps_cache_writes() -> None:
    # Bedrock's driver once reported cache writes beside prompt_tokens_details:
    # the Messages usage took them for input tokens.
    canonical = bedrock_usage(
        {
            "inputTokens": 100,
            "outputTokens": 5,
            "cacheReadInputTokens": 30,
            "cacheWriteInputTokens": 20,
        }
    )
    data = completion({"role": "assistant", "content": "x"}, **canonical)
    assert from_canonical(data, "m")["usage"] == {
        "input_tokens": 100,
        "output_tokens": 5,
        "cache_creation_input_tokens": 20,
        "cache_read_input_tokens": 30,
    }
