"""anthropic: request translation (canonical request → vendor body), pure vectors."""

from __future__ import annotations

from typing import Any

import pytest

from providers.drivers.anthropic.messages import PLACEHOLDER_USER_TEXT, sanitize_tool_id
from providers.drivers.anthropic.response import (
    map_stop_reason,
)
from providers.drivers.anthropic.translate import (
    NOOP_TOOL,
)
from providers.drivers.config import DriverConfig
from providers.drivers.errors import DriverError
from tests.providers.drivers.anthropic.support import (
    body_for,
    conversation_with_tools,
    text,
)
from tests.providers.drivers.vectors import TIME_TOOL, WEATHER_TOOL, user


def test_system_and_developer_become_top_level_system_in_order() -> None:
    body = body_for(
        {
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "developer", "content": [text("Use French."), text("  ")]},
                user("Hi"),
                {"role": "system", "content": "Late rule."},
            ]
        }
    )
    assert body["system"] == [
        text("Be brief."),
        text("Use French."),
        text("Late rule."),
    ]
    assert body["messages"] == [{"role": "user", "content": [text("Hi")]}]
    assert body["model"] == "claude-test"
    assert body["max_tokens"] == 4096
    assert "stream" not in body


def test_multi_turn_keeps_roles_and_merges_same_role_neighbours() -> None:
    body = body_for(
        {
            "messages": [
                user("one"),
                user([text("two"), text("")]),
                {"role": "assistant", "content": "reply"},
                {
                    "role": "assistant",
                    "content": [{"type": "refusal", "refusal": "no"}],
                },
                {"role": "assistant", "content": "   "},
                user("three"),
            ]
        }
    )
    assert body["messages"] == [
        {"role": "user", "content": [text("one"), text("two")]},
        {"role": "assistant", "content": [text("reply"), text("no")]},
        {"role": "user", "content": [text("three")]},
    ]


def test_images_data_url_and_https_url() -> None:
    body = body_for(
        {
            "messages": [
                user(
                    [
                        text("What is this?"),
                        {
                            "type": "image_url",
                            "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="},
                        },
                        {
                            "type": "image_url",
                            "image_url": {"url": "data:image/jpg;base64,/9j/4AAQ"},
                        },
                        {
                            "type": "image_url",
                            "image_url": {
                                "url": "https://example.com/cat.jpg",
                                "detail": "high",
                            },
                        },
                    ]
                )
            ]
        }
    )
    assert body["messages"][0]["content"] == [
        text("What is this?"),
        {
            "type": "image",
            "source": {
                "type": "base64",
                "media_type": "image/png",
                "data": "iVBORw0KGgo=",
            },
        },
        {
            "type": "image",
            "source": {
                "type": "base64",
                "media_type": "image/jpeg",
                "data": "/9j/4AAQ",
            },
        },
        {
            "type": "image",
            "source": {"type": "url", "url": "https://example.com/cat.jpg"},
        },
    ]


@pytest.mark.parametrize(
    "part",
    [
        {"type": "image_url", "image_url": {"url": "data:image/tiff;base64,AAAA"}},
        {"type": "image_url", "image_url": {"url": "ftp://example.com/x.png"}},
        {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}},
        {"type": "file", "file": {"file_id": "file-1"}},
    ],
)
def test_unsupported_content_parts_are_400(part: dict[str, Any]) -> None:
    with pytest.raises(DriverError) as info:
        body_for({"messages": [user([part])]})
    assert info.value.status == 400
    assert info.value.param.startswith("messages[0].content[0]")


def test_pdf_file_part_becomes_document_block() -> None:
    part = {
        "type": "file",
        "file": {"file_data": "data:application/pdf;base64,JVBERi0=", "filename": "a"},
    }
    body = body_for({"messages": [user([part])]})
    assert body["messages"][0]["content"] == [
        {
            "type": "document",
            "source": {
                "type": "base64",
                "media_type": "application/pdf",
                "data": "JVBERi0=",
            },
        }
    ]


def test_tool_definitions() -> None:
    body = body_for({"messages": [user("hi")], "tools": [WEATHER_TOOL, TIME_TOOL]})
    assert body["tools"] == [
        {
            "name": "get_weather",
            "description": "Weather for a city",
            "input_schema": WEATHER_TOOL["function"]["parameters"],
        },
        {"name": "get_time", "input_schema": {"type": "object", "properties": {}}},
    ]
    assert "tool_choice" not in body


def test_non_function_tools_are_400() -> None:
    with pytest.raises(DriverError) as info:
        body_for({"messages": [user("hi")], "tools": [{"type": "custom", "name": "x"}]})
    assert (info.value.status, info.value.param) == (400, "tools[0].type")


@pytest.mark.parametrize(
    ("tool_choice", "parallel", "expected"),
    [
        ("auto", None, {"type": "auto"}),
        ("none", None, {"type": "none"}),
        ("required", None, {"type": "any"}),
        (
            {"type": "function", "function": {"name": "get_time"}},
            None,
            {"type": "tool", "name": "get_time"},
        ),
        (None, False, {"type": "auto", "disable_parallel_tool_use": True}),
        ("required", False, {"type": "any", "disable_parallel_tool_use": True}),
        ("none", False, {"type": "none"}),
        (None, True, None),
    ],
)
def test_tool_choice_variants(tool_choice: Any, parallel: Any, expected: Any) -> None:
    request: dict[str, Any] = {
        "messages": [user("hi")],
        "tools": [WEATHER_TOOL, TIME_TOOL],
    }
    if tool_choice is not None:
        request["tool_choice"] = tool_choice
    if parallel is not None:
        request["parallel_tool_calls"] = parallel
    assert body_for(request).get("tool_choice") == expected


def test_tool_choice_without_tools_is_dropped() -> None:
    body = body_for({"messages": [user("hi")], "tool_choice": "auto"})
    assert "tool_choice" not in body and "tools" not in body


def test_assistant_without_text_sends_only_tool_use() -> None:
    messages = conversation_with_tools()
    messages[1]["content"] = None
    body = body_for({"messages": messages, "tools": [WEATHER_TOOL]})
    assert [b["type"] for b in body["messages"][1]["content"]] == [
        "tool_use",
        "tool_use",
    ]


def test_tool_history_without_tools_declares_a_noop_tool() -> None:
    body = body_for({"messages": conversation_with_tools()})
    assert body["tools"] == [NOOP_TOOL]
    assert body["tool_choice"] == {"type": "none"}


def test_sanitize_tool_id_is_deterministic() -> None:
    assert sanitize_tool_id("call.1:abc") == "call_1_abc"
    assert sanitize_tool_id("toolu_01-AbC") == "toolu_01-AbC"
    assert sanitize_tool_id("") == "call_"


def test_leading_assistant_turn_gets_a_placeholder_user_turn() -> None:
    body = body_for(
        {"messages": [{"role": "assistant", "content": "Hello!"}, user("Hi")]}
    )
    assert body["messages"][0] == {
        "role": "user",
        "content": [text(PLACEHOLDER_USER_TEXT)],
    }
    assert body["messages"][1]["role"] == "assistant"


def test_system_only_request_gets_a_placeholder_user_turn() -> None:
    body = body_for({"messages": [{"role": "system", "content": "Say hi."}]})
    assert body["messages"] == [
        {"role": "user", "content": [text(PLACEHOLDER_USER_TEXT)]}
    ]


def test_final_assistant_prefill_is_rstripped() -> None:
    body = body_for(
        {
            "messages": [
                user("Answer:"),
                {"role": "assistant", "content": "The answer is \n"},
            ]
        }
    )
    assert body["messages"][-1] == {
        "role": "assistant",
        "content": [text("The answer is")],
    }


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"max_completion_tokens": 10, "max_tokens": 20}, 10),
        ({"max_tokens": 20}, 20),
        ({}, 4096),
    ],
)
def test_max_tokens_precedence(params: dict[str, Any], expected: int) -> None:
    assert body_for({"messages": [user("hi")], **params})["max_tokens"] == expected


def test_max_tokens_default_from_config() -> None:
    cfg = DriverConfig(
        "anthropic", "", "x_api_key", {"api_key": "k"}, {"default_max_tokens": 123}
    )
    assert body_for({"messages": [user("hi")]}, cfg)["max_tokens"] == 123


def test_bad_max_tokens_is_400() -> None:
    with pytest.raises(DriverError) as info:
        body_for({"messages": [user("hi")], "max_tokens": "ten"})
    assert (info.value.status, info.value.param) == (400, "max_tokens")


def test_sampling_parameters() -> None:
    body = body_for(
        {
            "messages": [user("hi")],
            "temperature": 1.0,
            "top_p": 0.5,
            "stop": ["END", " "],
        }
    )
    assert body["temperature"] == 1.0
    assert "top_p" not in body  # never both
    assert body["stop_sequences"] == ["END"]
    body = body_for({"messages": [user("hi")], "top_p": 0.5, "stop": "\n\n"})
    assert body["top_p"] == 0.5
    assert "stop_sequences" not in body
    body = body_for({"messages": [user("hi")], "temperature": 0.2, "stop": "STOP"})
    assert body["temperature"] == 0.2
    assert body["stop_sequences"] == ["STOP"]


def test_user_becomes_metadata_unless_it_looks_like_an_email() -> None:
    assert body_for({"messages": [user("hi")], "user": "u-42"})["metadata"] == {
        "user_id": "u-42"
    }
    assert "metadata" not in body_for({"messages": [user("hi")], "user": "a@b.example"})


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"n": 2}, "n"),
        ({"logprobs": True}, "logprobs"),
        ({"top_logprobs": 3}, "top_logprobs"),
        ({"modalities": ["text", "audio"]}, "modalities"),
        (
            {"response_format": {"type": "json_schema", "json_schema": {"name": "x"}}},
            "response_format.json_schema.schema",
        ),
    ],
)
def test_shape_changing_parameters_are_400(params: dict[str, Any], param: str) -> None:
    with pytest.raises(DriverError) as info:
        body_for({"messages": [user("hi")], **params})
    assert (info.value.status, info.value.param) == (400, param)


def test_openai_only_parameters_are_dropped() -> None:
    body = body_for(
        {
            "model": "gateway-name",
            "messages": [user("hi")],
            "n": 1,
            "seed": 7,
            "presence_penalty": 0.5,
            "frequency_penalty": 0.5,
            "logit_bias": {"1": 2},
            "logprobs": False,
            "reasoning_effort": "low",
            "service_tier": "flex",
            "store": True,
            "metadata": {"a": "b"},
            "stream_options": {"include_usage": True},
            "prompt_cache_key": "k",
            "verbosity": "low",
        }
    )
    assert set(body) == {"model", "max_tokens", "messages"}
    assert body["model"] == "claude-test"


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("pause_turn", "stop"),
        ("max_tokens", "length"),
        ("model_context_window_exceeded", "length"),
        ("tool_use", "tool_calls"),
        ("refusal", "content_filter"),
        ("something_new", "stop"),
        (None, "stop"),
    ],
)
def test_stop_reason_mapping(reason: str | None, expected: str) -> None:
    assert map_stop_reason(reason) == expected


def test_default_max_tokens_ignores_a_malformed_config_value() -> None:
    cfg = DriverConfig("anthropic", "", "x_api_key", {}, {"default_max_tokens": "x"})
    assert body_for({"messages": [user("hi")]}, cfg)["max_tokens"] == 4096
