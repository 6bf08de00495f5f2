"""anthropic: response translation (vendor answer → canonical), pure vectors."""

from __future__ import annotations

import pytest

from providers.drivers.anthropic.discovery import parse_models
from providers.drivers.anthropic.response import (
    map_usage,
    parse_message,
)
from providers.drivers.anthropic.translate import has_structured_outputs
from providers.drivers.errors import DriverError
from tests.providers.drivers.anthropic.support import (
    body_for,
    conversation_with_tools,
    text,
)
from tests.providers.drivers.vectors import TIME_TOOL, WEATHER_TOOL, user


def test_allowed_tools_narrows_the_tool_list() -> None:
    choice = {
        "type": "allowed_tools",
        "allowed_tools": {
            "mode": "required",
            "tools": [{"type": "function", "function": {"name": "get_time"}}],
        },
    }
    body = body_for(
        {
            "messages": [user("hi")],
            "tools": [WEATHER_TOOL, TIME_TOOL],
            "tool_choice": choice,
        }
    )
    assert [t["name"] for t in body["tools"]] == ["get_time"]
    assert body["tool_choice"] == {"type": "any"}


def test_assistant_tool_calls_and_tool_results() -> None:
    body = body_for({"messages": conversation_with_tools(), "tools": [WEATHER_TOOL]})
    assert body["messages"] == [
        {"role": "user", "content": [text("Weather in Paris and the time?")]},
        {
            "role": "assistant",
            "content": [
                text("Let me check."),
                {
                    "type": "tool_use",
                    "id": "call_1_abc",
                    "name": "get_weather",
                    "input": {"city": "Paris"},
                },
                {"type": "tool_use", "id": "call_2", "name": "get_time", "input": {}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "call_1_abc", "content": "22C"},
                {
                    "type": "tool_result",
                    "tool_use_id": "call_2",
                    "content": [text("noon")],
                },
                text("Thanks, and tomorrow?"),
            ],
        },
    ]


def test_tool_results_are_moved_before_user_text_in_the_same_turn() -> None:
    messages = conversation_with_tools()
    messages.insert(2, user("(interjection)"))
    body = body_for({"messages": messages, "tools": [WEATHER_TOOL]})
    kinds = [b["type"] for b in body["messages"][2]["content"]]
    assert kinds == ["tool_result", "tool_result", "text", "text"]


def test_response_format() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    body = body_for(
        {
            "messages": [user("hi")],
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "x", "schema": schema, "strict": True},
            },
        },
        model="claude-sonnet-4-5-20250929",
    )
    assert body["output_config"] == {
        "format": {"type": "json_schema", "schema": schema}
    }
    # json_object never reaches translation: the driver emulates it first
    # (providers/drivers/structured.py), so translation alone refuses it.
    with pytest.raises(DriverError) as refused:
        body_for({"messages": [user("hi")], "response_format": {"type": "json_object"}})
    assert refused.value.status == 400
    body = body_for({"messages": [user("hi")], "response_format": {"type": "text"}})
    assert "output_config" not in body and "system" not in body


def test_parse_message_text_tools_and_thinking() -> None:
    result = parse_message(
        {
            "id": "msg_01",
            "type": "message",
            "role": "assistant",
            "model": "claude-test",
            "content": [
                {"type": "thinking", "thinking": "Hmm.", "signature": "sig"},
                {"type": "text", "text": "Checking"},
                {"type": "text", "text": " now."},
                {
                    "type": "tool_use",
                    "id": "toolu_1",
                    "name": "get_weather",
                    "input": {"city": "Paris"},
                },
                {"type": "tool_use", "id": "toolu_2", "name": "get_time", "input": {}},
            ],
            "stop_reason": "tool_use",
            "usage": {"input_tokens": 5, "output_tokens": 9},
        }
    )
    assert result["object"] == "chat.completion"
    assert result["id"] == "chatcmpl-msg_01"
    choice = result["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["logprobs"] is None
    assert choice["message"] == {
        "role": "assistant",
        "content": "Checking now.",
        "reasoning_content": "Hmm.",
        "tool_calls": [
            {
                "id": "toolu_1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
            },
            {
                "id": "toolu_2",
                "type": "function",
                "function": {"name": "get_time", "arguments": "{}"},
            },
        ],
    }
    assert result["usage"]["total_tokens"] == 14


def test_parse_message_content_null_with_only_tool_calls() -> None:
    result = parse_message(
        {
            "content": [{"type": "tool_use", "id": "t", "name": "f", "input": {}}],
            "stop_reason": "tool_use",
        }
    )
    assert result["choices"][0]["message"]["content"] is None
    empty = parse_message({"content": [], "stop_reason": "end_turn"})
    assert empty["choices"][0]["message"] == {"role": "assistant", "content": ""}


def test_usage_mapping_counts_cache_tokens_as_prompt() -> None:
    assert map_usage(
        {
            "input_tokens": 10,
            "cache_read_input_tokens": 100,
            "cache_creation_input_tokens": 20,
            "output_tokens": 7,
        }
    ) == {
        "prompt_tokens": 130,
        "completion_tokens": 7,
        "total_tokens": 137,
        "prompt_tokens_details": {"cached_tokens": 100, "cache_creation_tokens": 20},
    }
    assert map_usage({"input_tokens": 3, "output_tokens": 1}) == {
        "prompt_tokens": 3,
        "completion_tokens": 1,
        "total_tokens": 4,
        "prompt_tokens_details": {"cached_tokens": 0},
    }


def test_parse_models_pagination_fields() -> None:
    models, after = parse_models(
        {
            "data": [
                {
                    "type": "model",
                    "id": "claude-a",
                    "display_name": "Claude A",
                    "created_at": "2025-01-01T00:00:00Z",
                    "max_input_tokens": 200000,
                }
            ],
            "has_more": True,
            "first_id": "claude-a",
            "last_id": "claude-a",
        }
    )
    assert [(m.model_id, m.name, m.context_window) for m in models] == [
        ("claude-a", "Claude A", 200000)
    ]
    assert after == "claude-a"
    assert parse_models({"data": [], "has_more": False, "last_id": None}) == ([], None)


def test_structured_outputs_by_claude_generation() -> None:
    for model in (
        "claude-sonnet-4-5-20250929",
        "claude-haiku-4-5-20251001",
        "claude-opus-4-1-20250805",
        "claude-opus-4-5",
        "claude-sonnet-5-0",
        "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
    ):
        assert has_structured_outputs(model), model
    for model in (
        "claude-3-5-haiku-20241022",
        "claude-3-7-sonnet-latest",
        "claude-sonnet-4-20250514",
        "claude-opus-4-20250514",
        "claude-haiku-4-1",
    ):
        assert not has_structured_outputs(model), model
