"""Anthropic driver: translation vectors, then I/O against the fake over loopback."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from providers.drivers.anthropic.discovery import parse_models
from providers.drivers.anthropic.driver import AnthropicDriver
from providers.drivers.anthropic.errors import error_from_anthropic, error_from_event
from providers.drivers.anthropic.messages import PLACEHOLDER_USER_TEXT, sanitize_tool_id
from providers.drivers.anthropic.response import (
    StreamTranslator,
    map_stop_reason,
    map_usage,
    parse_message,
)
from providers.drivers.anthropic.translate import (
    JSON_OBJECT_INSTRUCTION,
    NOOP_TOOL,
    build_chat_request,
    build_messages_body,
)
from providers.drivers.config import DriverConfig, Timeouts
from providers.drivers.errors import DriverError
from providers.health import health_of
from providers.http import build_client
from tests.fakes import anthropic as fake
from tests.fakes.server import serve

SECRET = "sk-ant-test-key"
CFG = DriverConfig(
    provider_type="anthropic",
    base_url="https://api.anthropic.com",
    auth_method="x_api_key",
    credentials={"api_key": SECRET},
)
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
TIME_TOOL = {"type": "function", "function": {"name": "get_time"}}


def body_for(request: dict[str, Any], cfg: DriverConfig = CFG) -> dict[str, Any]:
    body = build_messages_body(cfg, request, "claude-test", False)
    fake.validate_body(body)  # everything we build must pass the strict fake
    return body


def user(text: Any) -> dict[str, Any]:
    return {"role": "user", "content": text}


def text(value: str) -> dict[str, Any]:
    return {"type": "text", "text": value}


def tool_call(call_id: str, name: str, arguments: str) -> dict[str, Any]:
    return {
        "id": call_id,
        "type": "function",
        "function": {"name": name, "arguments": arguments},
    }


# -- request translation ------------------------------------------------------------


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


def test_tool_choice_without_tools_is_dropped() -> None:
    body = body_for({"messages": [user("hi")], "tool_choice": "auto"})
    assert "tool_choice" not in body and "tools" not in body


def conversation_with_tools() -> list[dict[str, Any]]:
    return [
        user("Weather in Paris and the time?"),
        {
            "role": "assistant",
            "content": "Let me check.",
            "tool_calls": [
                tool_call("call.1:abc", "get_weather", '{"city": "Paris"}'),
                tool_call("call_2", "get_time", ""),
            ],
        },
        {"role": "tool", "tool_call_id": "call.1:abc", "content": "22C"},
        {"role": "tool", "tool_call_id": "call_2", "content": [text("noon")]},
        user("Thanks, and tomorrow?"),
    ]


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


def test_assistant_without_text_sends_only_tool_use() -> None:
    messages = conversation_with_tools()
    messages[1]["content"] = None
    body = body_for({"messages": messages, "tools": [WEATHER_TOOL]})
    assert [b["type"] for b in body["messages"][1]["content"]] == [
        "tool_use",
        "tool_use",
    ]


@pytest.mark.parametrize("arguments", ['{"city": ', "[1, 2]", "42"])
def test_invalid_tool_call_arguments_are_400(arguments: str) -> None:
    messages = conversation_with_tools()
    messages[1]["tool_calls"][1]["function"]["arguments"] = arguments
    with pytest.raises(DriverError) as info:
        body_for({"messages": messages, "tools": [WEATHER_TOOL]})
    assert info.value.status == 400
    assert info.value.param == "messages[1].tool_calls[1].function.arguments"


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


def test_a_temperature_above_anthropics_maximum_is_refused_not_clamped() -> None:
    with pytest.raises(DriverError) as info:
        body_for({"messages": [user("hi")], "temperature": 1.7})
    assert (info.value.status, info.value.param) == (400, "temperature")
    assert "from 0 to 1" in info.value.message


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


def test_response_format() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    body = body_for(
        {
            "messages": [user("hi")],
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "x", "schema": schema, "strict": True},
            },
        }
    )
    assert body["output_config"] == {
        "format": {"type": "json_schema", "schema": schema}
    }
    body = body_for(
        {
            "messages": [{"role": "system", "content": "S"}, user("hi")],
            "response_format": {"type": "json_object"},
        }
    )
    assert body["system"] == [text("S"), text(JSON_OBJECT_INSTRUCTION)]
    assert "output_config" not in body
    body = body_for({"messages": [user("hi")], "response_format": {"type": "text"}})
    assert "output_config" not in body and "system" not in body


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


def test_stream_flag_and_request_envelope() -> None:
    cfg = DriverConfig(
        "anthropic",
        "https://proxy.example/anthropic/v1/",
        "x_api_key",
        {"api_key": SECRET},
        {"anthropic_beta": ["a-2025", "b-2025"]},
    )
    req = build_chat_request(
        cfg, {"messages": [user("hi")]}, "claude-test", True, {"x-api-key": SECRET}
    )
    assert req.method == "POST"
    assert req.url == "https://proxy.example/anthropic/v1/messages"
    assert req.json["stream"] is True
    assert req.headers == {
        "x-api-key": SECRET,
        "anthropic-version": "2023-06-01",
        "content-type": "application/json",
        "anthropic-beta": "a-2025,b-2025",
        "accept": "text/event-stream",
    }


# -- response translation ------------------------------------------------------------


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


# -- errors ------------------------------------------------------------


def anthropic_error(kind: str, message: str = "msg", **extra: Any) -> bytes:
    error = {"type": kind, "message": message, **extra}
    return json.dumps({"type": "error", "error": error, "request_id": "req_1"}).encode()


@pytest.mark.parametrize(
    ("status", "kind", "expected_status", "code"),
    [
        (400, "invalid_request_error", 400, "upstream_invalid_request"),
        (401, "authentication_error", 502, "upstream_auth_error"),
        (403, "permission_error", 502, "upstream_auth_error"),
        (404, "not_found_error", 502, "upstream_model_not_found"),
        (413, "request_too_large", 413, "request_too_large"),
        (429, "rate_limit_error", 429, "upstream_rate_limited"),
        (500, "api_error", 502, "upstream_error"),
        (503, "api_error", 503, "upstream_unavailable"),
        (504, "timeout_error", 504, "upstream_timeout"),
        (529, "overloaded_error", 503, "upstream_overloaded"),
        (402, "billing_error", 502, "upstream_error"),
    ],
)
def test_http_error_mapping(
    status: int, kind: str, expected_status: int, code: str
) -> None:
    error = error_from_anthropic(
        status,
        anthropic_error(kind, "max_tokens: Field required"),
        {"retry-after": "7"},
    )
    assert (error.status, error.code) == (expected_status, code)
    assert "max_tokens: Field required" in error.message


def test_rate_limit_keeps_retry_after_and_spend_limit_is_permanent() -> None:
    error = error_from_anthropic(
        429, anthropic_error("rate_limit_error"), {"retry-after": "7"}
    )
    assert (error.retry_after, error.transient) == (7.0, True)
    spend = error_from_anthropic(
        429,
        anthropic_error(
            "rate_limit_error", details={"error_code": "enforced_spend_limit_reached"}
        ),
        {},
    )
    assert (spend.status, spend.permanent) == (429, True)


def test_non_json_error_body() -> None:
    error = error_from_anthropic(502, b"<html>Bad gateway</html>", {})
    assert (error.status, error.code) == (502, "upstream_error")
    assert "Bad gateway" in error.message


@pytest.mark.parametrize(
    ("kind", "status", "code"),
    [
        ("overloaded_error", 503, "upstream_overloaded"),
        ("rate_limit_error", 429, "upstream_rate_limited"),
        ("api_error", 502, "upstream_error"),
        ("invalid_request_error", 400, "upstream_invalid_request"),
    ],
)
def test_stream_error_event_mapping(kind: str, status: int, code: str) -> None:
    error = error_from_event({"type": "error", "error": {"type": kind, "message": "x"}})
    assert (error.status, error.code) == (status, code)


# -- stream translation ------------------------------------------------------------


def events_text_and_two_tools() -> list[tuple[str, dict[str, Any]]]:
    usage = {"input_tokens": 20, "cache_read_input_tokens": 5, "output_tokens": 1}
    return [
        (
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": "msg_1",
                    "type": "message",
                    "role": "assistant",
                    "content": [],
                    "model": "claude-test",
                    "stop_reason": None,
                    "usage": usage,
                },
            },
        ),
        (
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "thinking", "thinking": ""},
            },
        ),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "thinking_delta", "thinking": "Plan."},
            },
        ),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "signature_delta", "signature": "abc"},
            },
        ),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ("ping", {"type": "ping"}),
        (
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 1,
                "content_block": {"type": "text", "text": ""},
            },
        ),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 1,
                "delta": {"type": "text_delta", "text": "Checking."},
            },
        ),
        ("content_block_stop", {"type": "content_block_stop", "index": 1}),
        (
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 2,
                "content_block": {
                    "type": "tool_use",
                    "id": "toolu_A",
                    "name": "get_weather",
                    "input": {},
                },
            },
        ),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 2,
                "delta": {"type": "input_json_delta", "partial_json": ""},
            },
        ),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 2,
                "delta": {"type": "input_json_delta", "partial_json": '{"city": '},
            },
        ),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 2,
                "delta": {"type": "input_json_delta", "partial_json": '"Paris"}'},
            },
        ),
        ("content_block_stop", {"type": "content_block_stop", "index": 2}),
        (
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 3,
                "content_block": {
                    "type": "tool_use",
                    "id": "toolu_B",
                    "name": "get_time",
                    "input": {},
                },
            },
        ),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 3,
                "delta": {"type": "input_json_delta", "partial_json": "{}"},
            },
        ),
        ("content_block_stop", {"type": "content_block_stop", "index": 3}),
        ("some_future_event", {"type": "some_future_event"}),
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "tool_use", "stop_sequence": None},
                "usage": {"output_tokens": 41},
            },
        ),
        ("message_stop", {"type": "message_stop"}),
    ]


def delta(value: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {"choices": [{"index": 0, "delta": value, "finish_reason": finish}]}


def test_stream_translation_interleaved_text_and_tools() -> None:
    translator = StreamTranslator()
    chunks = [c for e, p in events_text_and_two_tools() for c in translator.feed(e, p)]
    chunks += translator.finish()
    assert chunks == [
        delta({"role": "assistant", "content": ""}),
        delta({"reasoning_content": "Plan."}),
        delta({"content": "Checking."}),
        delta(
            {
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "toolu_A",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": ""},
                    }
                ]
            }
        ),
        delta({"tool_calls": [{"index": 0, "function": {"arguments": '{"city": '}}]}),
        delta({"tool_calls": [{"index": 0, "function": {"arguments": '"Paris"}'}}]}),
        delta(
            {
                "tool_calls": [
                    {
                        "index": 1,
                        "id": "toolu_B",
                        "type": "function",
                        "function": {"name": "get_time", "arguments": ""},
                    }
                ]
            }
        ),
        delta({"tool_calls": [{"index": 1, "function": {"arguments": "{}"}}]}),
        delta({}, "tool_calls"),
        {
            "choices": [],
            "usage": {
                "prompt_tokens": 25,
                "completion_tokens": 41,
                "total_tokens": 66,
                "prompt_tokens_details": {"cached_tokens": 5},
            },
        },
    ]
    assert translator.done
    assert translator.feed("ping", {"type": "ping"}) == []


def test_stream_translation_without_message_stop_finishes_on_finish() -> None:
    translator = StreamTranslator()
    events = [e for e in events_text_and_two_tools() if e[0] != "message_stop"]
    for event, payload in events:
        translator.feed(event, payload)
    assert translator.complete and not translator.done
    tail = translator.finish()
    assert tail[0] == delta({}, "tool_calls")
    assert tail[1]["usage"]["completion_tokens"] == 41


def test_stream_error_event_raises() -> None:
    translator = StreamTranslator()
    translator.feed("message_start", events_text_and_two_tools()[0][1])
    with pytest.raises(DriverError) as info:
        translator.feed(
            "error",
            {
                "type": "error",
                "error": {"type": "overloaded_error", "message": "Overloaded"},
            },
        )
    assert (info.value.status, info.value.code) == (503, "upstream_overloaded")


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


# -- I/O against the fake ------------------------------------------------------------


def run(
    app: Any,
    call: Callable[[AnthropicDriver], Awaitable[Any]],
    *,
    auth_method: str = "x_api_key",
    api_key: str = SECRET,
    timeouts: Timeouts | None = None,
    config: dict[str, Any] | None = None,
) -> Any:
    with serve(app) as server:

        async def main() -> Any:
            client = build_client()
            try:
                cfg = DriverConfig(
                    provider_type="anthropic",
                    base_url=server.url,
                    auth_method=auth_method,
                    credentials={"api_key": api_key},
                    config=config or {},
                    timeouts=timeouts or Timeouts(),
                )
                return await call(AnthropicDriver(cfg, client))
            finally:
                await client.aclose()

        return asyncio.run(main())


def collect(request: dict[str, Any]) -> Callable[[AnthropicDriver], Awaitable[Any]]:
    async def call(driver: AnthropicDriver) -> list[dict[str, Any]]:
        return [chunk async for chunk in driver.chat_stream(request, "claude-test")]

    return call


def chat(request: dict[str, Any]) -> Callable[[AnthropicDriver], Awaitable[Any]]:
    async def call(driver: AnthropicDriver) -> dict[str, Any]:
        return await driver.chat(request, "claude-test")

    return call


def joined_content(chunks: list[dict[str, Any]]) -> str:
    return "".join(
        c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"]
    )


def test_io_text_chat() -> None:
    app = fake.make_app()
    result = run(app, chat({"model": "gw", "messages": [user("hi")]}))
    assert result["choices"][0]["message"] == {
        "role": "assistant",
        "content": "Hello from anthropic: hi",
    }
    assert result["choices"][0]["finish_reason"] == "stop"
    assert result["usage"] == {
        "prompt_tokens": 11,
        "completion_tokens": 7,
        "total_tokens": 18,
        "prompt_tokens_details": {"cached_tokens": 0},
    }
    (recorded,) = app["requests"]
    assert recorded["path"] == "/v1/messages"
    assert recorded["headers"]["x-api-key"] == SECRET
    assert recorded["headers"]["anthropic-version"] == "2023-06-01"
    assert recorded["json"]["model"] == "claude-test"


def test_io_multi_turn_with_system_prompt_and_beta_header() -> None:
    app = fake.make_app()
    request = {
        "messages": [
            {"role": "system", "content": "Be brief."},
            user("first"),
            {"role": "assistant", "content": "ok"},
            user("second"),
        ],
        "temperature": 0.5,
    }
    result = run(app, chat(request), config={"anthropic_beta": "beta-1"})
    assert result["choices"][0]["message"]["content"] == "Hello from anthropic: second"
    sent = app["requests"][0]
    assert sent["json"]["system"] == [text("Be brief.")]
    assert [m["role"] for m in sent["json"]["messages"]] == [
        "user",
        "assistant",
        "user",
    ]
    assert sent["json"]["temperature"] == 0.5
    assert sent["headers"]["anthropic-beta"] == "beta-1"


def test_io_bearer_auth_and_cache_usage() -> None:
    app = fake.make_app(
        bearer_token="oauth-token", cache_read_tokens=5, cache_creation_tokens=3
    )
    result = run(
        app,
        chat({"messages": [user("hi")]}),
        auth_method="bearer",
        api_key="oauth-token",
    )
    assert result["usage"]["prompt_tokens"] == 19
    assert result["usage"]["prompt_tokens_details"] == {
        "cached_tokens": 5,
        "cache_creation_tokens": 3,
    }


def test_io_streaming_text() -> None:
    app = fake.make_app()
    chunks = run(app, collect({"messages": [user("stream please")]}))
    assert chunks[0] == delta({"role": "assistant", "content": ""})
    content_chunks = [
        c for c in chunks if c["choices"] and c["choices"][0]["delta"].get("content")
    ]
    assert len(content_chunks) >= 3
    assert joined_content(chunks) == "Hello from anthropic: stream please"
    assert chunks[-2] == delta({}, "stop")
    assert chunks[-1] == {
        "choices": [],
        "usage": {
            "prompt_tokens": 11,
            "completion_tokens": 7,
            "total_tokens": 18,
            "prompt_tokens_details": {"cached_tokens": 0},
        },
    }
    assert app["requests"][0]["json"]["stream"] is True


def test_io_tools_non_streaming() -> None:
    app = fake.make_app()
    result = run(app, chat({"messages": [user("weather?")], "tools": [WEATHER_TOOL]}))
    choice = result["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] == "Checking."
    (call,) = choice["message"]["tool_calls"]
    assert call["type"] == "function"
    assert call["function"]["name"] == "get_weather"
    assert json.loads(call["function"]["arguments"]) == {"city": "Paris"}
    assert call["id"].startswith("toolu_")


def test_io_tools_streaming() -> None:
    app = fake.make_app()
    chunks = run(
        app, collect({"messages": [user("weather?")], "tools": [WEATHER_TOOL]})
    )
    assert joined_content(chunks) == "Checking."
    calls = [
        tc
        for c in chunks
        if c["choices"]
        for tc in c["choices"][0]["delta"].get("tool_calls", [])
    ]
    assert {tc["index"] for tc in calls} == {0}
    starts = [tc for tc in calls if "id" in tc]
    assert len(starts) == 1
    assert starts[0]["function"]["name"] == "get_weather"
    assert len(calls) >= 3  # start + at least two argument fragments
    arguments = "".join(tc["function"]["arguments"] for tc in calls)
    assert json.loads(arguments) == {"city": "Paris"}
    assert chunks[-2] == delta({}, "tool_calls")
    assert chunks[-1]["usage"]["total_tokens"] == 18


def test_io_tool_result_round_trip() -> None:
    app = fake.make_app()
    messages = [
        user("weather?"),
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [tool_call("call.9:x", "get_weather", '{"city":"Paris"}')],
        },
        {"role": "tool", "tool_call_id": "call.9:x", "content": "22C and sunny"},
    ]
    result = run(app, chat({"messages": messages, "tools": [WEATHER_TOOL]}))
    assert result["choices"][0]["message"]["content"] == "The tool said: 22C and sunny"
    sent = app["requests"][0]["json"]["messages"]
    assert sent[1]["content"][0]["id"] == sent[2]["content"][0]["tool_use_id"]


def test_io_tool_history_without_tools() -> None:
    app = fake.make_app()
    messages = [
        user("weather?"),
        {
            "role": "assistant",
            "tool_calls": [tool_call("call_1", "get_weather", '{"city":"Paris"}')],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "rainy"},
    ]
    result = run(app, chat({"messages": messages}))
    assert result["choices"][0]["message"]["content"] == "The tool said: rainy"
    assert app["requests"][0]["json"]["tool_choice"] == {"type": "none"}


def test_io_length() -> None:
    result = run(fake.make_app(), chat({"messages": [user("LENGTH")]}))
    assert result["choices"][0]["finish_reason"] == "length"
    chunks = run(fake.make_app(), collect({"messages": [user("LENGTH")]}))
    assert chunks[-2] == delta({}, "length")


@pytest.mark.parametrize(
    ("status", "expected_status", "code"),
    [
        (400, 400, "upstream_invalid_request"),
        (401, 502, "upstream_auth_error"),
        (429, 429, "upstream_rate_limited"),
        (500, 502, "upstream_error"),
        (503, 503, "upstream_unavailable"),
        (529, 503, "upstream_overloaded"),
    ],
)
def test_io_error_mapping(status: int, expected_status: int, code: str) -> None:
    request = {"messages": [user(f"FAIL {status}")]}
    for call in (chat(request), collect(request)):
        with pytest.raises(DriverError) as info:
            run(fake.make_app(), call)
        assert (info.value.status, info.value.code) == (expected_status, code)
        if status == 429:
            assert info.value.retry_after == 7.0
        assert SECRET not in info.value.message


def test_io_upstream_validation_error_is_400_with_vendor_message() -> None:
    # a tool result answering no tool call: translated faithfully, refused upstream
    request = {
        "messages": [
            user("hi"),
            {"role": "tool", "tool_call_id": "nope", "content": "x"},
        ],
        "tools": [WEATHER_TOOL],
    }
    with pytest.raises(DriverError) as info:
        run(fake.make_app(), chat(request))
    assert (info.value.status, info.value.code) == (400, "upstream_invalid_request")
    assert (
        "unexpected `tool_use_id` found in `tool_result` blocks" in info.value.message
    )


def test_io_timeout_is_504() -> None:
    with pytest.raises(DriverError) as info:
        run(
            fake.make_app(),
            chat({"messages": [user("SLOW 2")]}),
            timeouts=Timeouts(first_byte=0.2),
        )
    assert (info.value.status, info.value.code) == (504, "upstream_timeout")


def test_io_break_raises_mid_stream() -> None:
    received: list[dict[str, Any]] = []

    async def call(driver: AnthropicDriver) -> None:
        async for chunk in driver.chat_stream(
            {"messages": [user("BREAK")]}, "claude-test"
        ):
            received.append(chunk)

    with pytest.raises(DriverError) as info:
        run(fake.make_app(), call, timeouts=Timeouts(first_byte=5))
    assert info.value.status in (502, 503, 504)
    assert joined_content(received)  # some text arrived before the break


def test_io_stream_error_event() -> None:
    received: list[dict[str, Any]] = []

    async def call(driver: AnthropicDriver) -> None:
        async for chunk in driver.chat_stream(
            {"messages": [user("STREAM ERROR")]}, "claude-test"
        ):
            received.append(chunk)

    with pytest.raises(DriverError) as info:
        run(fake.make_app(), call)
    assert (info.value.status, info.value.code) == (503, "upstream_overloaded")
    assert joined_content(received)


def test_io_stream_can_be_closed_early() -> None:
    async def call(driver: AnthropicDriver) -> dict[str, Any]:
        stream = driver.chat_stream({"messages": [user("hi")]}, "claude-test")
        first = await stream.__anext__()
        await stream.aclose()
        return first

    assert run(fake.make_app(), call) == delta({"role": "assistant", "content": ""})


def test_io_embeddings_are_not_served() -> None:
    async def call(driver: AnthropicDriver) -> Any:
        return await driver.embed({"input": "x"}, "claude-test")

    with pytest.raises(DriverError) as info:
        run(fake.make_app(), call)
    assert info.value.status == 400


def test_io_list_models_paginates() -> None:
    app = fake.make_app(max_page_size=3)

    async def call(driver: AnthropicDriver) -> Any:
        return await driver.list_models()

    models = run(app, call)
    assert [m.model_id for m in models] == [m["id"] for m in fake.DEFAULT_MODELS]
    assert models[0].name == "Claude Sonnet 4.5"
    assert [r["query"] for r in app["requests"]] == [
        {"limit": "1000"},
        {"limit": "1000", "after_id": fake.DEFAULT_MODELS[2]["id"]},
    ]


def test_io_health_check() -> None:
    app = fake.make_app()

    async def call(driver: AnthropicDriver) -> Any:
        return await driver.health_check()

    assert run(app, call) is None
    assert app["requests"][0]["query"] == {"limit": "1"}
    assert app["requests"][0]["path"] == "/v1/models"
    with pytest.raises(DriverError) as info:
        run(fake.make_app(), call, api_key="sk-ant-wrong-key")
    assert (info.value.status, info.value.code) == (502, "upstream_auth_error")
    assert health_of(info.value) == "unavailable"
    assert "sk-ant-wrong-key" not in info.value.message


# -- the fake is as strict as Anthropic ------------------------------------------------


def post_fake(body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    with serve(fake.make_app()) as server:
        sent = {"x-api-key": SECRET, "anthropic-version": "2023-06-01"}
        sent.update(headers or {})
        return httpx.post(f"{server.url}/v1/messages", json=body, headers=sent)


GOOD = {"model": "claude-test", "max_tokens": 10, "messages": [user("hi")]}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({**GOOD, "seed": 1}, "seed: Extra inputs are not permitted"),
        ({"model": "m", "messages": [user("hi")]}, "max_tokens: Field required"),
        (
            {**GOOD, "messages": [{"role": "system", "content": "x"}, user("hi")]},
            'Unexpected role "system"',
        ),
        (
            {**GOOD, "messages": [{"role": "tool", "content": "x"}]},
            "Input should be 'user'",
        ),
        (
            {**GOOD, "messages": [user([text("")])]},
            "text content blocks must be non-empty",
        ),
        ({**GOOD, "messages": [user([text(" ")])]}, "must contain non-whitespace text"),
        (
            {**GOOD, "temperature": 1.5},
            "temperature: Input should be less than or equal",
        ),
        ({**GOOD, "temperature": 0.5, "top_p": 0.5}, "cannot both be specified"),
        (
            {
                **GOOD,
                "tools": [{"name": "f", "input_schema": {"type": "object"}}],
                "messages": [
                    user("hi"),
                    {
                        "role": "assistant",
                        "content": [
                            {"type": "tool_use", "id": "t1", "name": "f", "input": {}}
                        ],
                    },
                    user(
                        [{"type": "tool_result", "tool_use_id": "t2", "content": "x"}]
                    ),
                ],
            },
            "`tool_use` ids were found without `tool_result` blocks",
        ),
        (
            {
                **GOOD,
                "messages": [
                    user("hi"),
                    {
                        "role": "assistant",
                        "content": [
                            {"type": "tool_use", "id": "t1", "name": "f", "input": {}}
                        ],
                    },
                    user(
                        [{"type": "tool_result", "tool_use_id": "t1", "content": "x"}]
                    ),
                ],
            },
            "must define tools",
        ),
    ],
)
def test_fake_rejects_what_anthropic_rejects(
    body: dict[str, Any], message: str
) -> None:
    response = post_fake(body)
    assert response.status_code == 400
    error = response.json()
    assert error["type"] == "error"
    assert error["error"]["type"] == "invalid_request_error"
    assert message in error["error"]["message"]


def test_fake_checks_headers() -> None:
    assert post_fake(GOOD).status_code == 200
    missing_version = post_fake(GOOD, {"anthropic-version": ""})
    assert missing_version.status_code == 400
    assert "anthropic-version" in missing_version.json()["error"]["message"]
    wrong_key = post_fake(GOOD, {"x-api-key": "nope"})
    assert wrong_key.status_code == 401
    assert wrong_key.json()["error"]["type"] == "authentication_error"


def test_io_stream_cut_before_the_message_ends_is_an_error() -> None:
    from aiohttp import web

    async def truncated(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await resp.prepare(request)
        start = {"type": "message_start", "message": {"usage": {"input_tokens": 1}}}
        await resp.write(
            f"event: message_start\ndata: {json.dumps(start)}\n\n".encode()
        )
        await resp.write_eof()  # a clean end of body, but no message_delta/stop
        return resp

    app = web.Application()
    app.router.add_post("/v1/messages", truncated)
    received: list[dict[str, Any]] = []

    async def call(driver: AnthropicDriver) -> None:
        async for chunk in driver.chat_stream({"messages": [user("hi")]}, "m"):
            received.append(chunk)

    with pytest.raises(DriverError) as info:
        run(app, call)
    assert info.value.status == 502
    assert "before the message was complete" in info.value.message
    assert received == [delta({"role": "assistant", "content": ""})]


def test_default_max_tokens_ignores_a_malformed_config_value() -> None:
    cfg = DriverConfig("anthropic", "", "x_api_key", {}, {"default_max_tokens": "x"})
    assert body_for({"messages": [user("hi")]}, cfg)["max_tokens"] == 4096
