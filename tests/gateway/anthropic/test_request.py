"""Anthropic Messages requests translated to canonical Chat Completions (pure)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gateway.anthropic.request import to_canonical
from gateway.validation import validate_chat
from providers.drivers.errors import DriverError


def body(**extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "model": "claude-x",
        "max_tokens": 100,
        "messages": [{"role": "user", "content": "Hi"}],
    }
    base.update(extra)
    return base


def translate(value: dict[str, Any]) -> dict[str, Any]:
    out = to_canonical(value)
    validate_chat(out)  # every translation is a body the canonical path accepts
    return out


def refused(value: dict[str, Any]) -> DriverError:
    with pytest.raises(DriverError) as caught:
        to_canonical(value)
    assert caught.value.status == 400
    assert caught.value.type == "invalid_request_error"
    return caught.value


def test_minimal_request() -> None:
    assert translate(body()) == {
        "model": "claude-x",
        "max_tokens": 100,
        "messages": [{"role": "user", "content": "Hi"}],
    }


def test_system_string_and_blocks() -> None:
    out = translate(body(system="Be brief."))
    assert out["messages"][0] == {"role": "system", "content": "Be brief."}
    blocks = [
        {"type": "text", "text": "One.", "cache_control": {"type": "ephemeral"}},
        {"type": "text", "text": "Two."},
    ]
    out = translate(body(system=blocks))
    assert out["messages"][0] == {"role": "system", "content": "One.\n\nTwo."}
    assert "cache_control" not in json.dumps(out)
    assert translate(body(system=""))["messages"][0]["role"] == "user"


def test_text_and_image_blocks() -> None:
    content = [
        {
            "type": "text",
            "text": "What is this?",
            "cache_control": {"type": "ephemeral"},
        },
        {
            "type": "image",
            "source": {"type": "base64", "media_type": "image/png", "data": "iVBOR"},
        },
        {"type": "image", "source": {"type": "url", "url": "https://x.test/a.jpg"}},
    ]
    out = translate(body(messages=[{"role": "user", "content": content}]))
    assert out["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is this?"},
                {
                    "type": "image_url",
                    "image_url": {"url": "data:image/png;base64,iVBOR"},
                },
                {"type": "image_url", "image_url": {"url": "https://x.test/a.jpg"}},
            ],
        }
    ]


def test_documents() -> None:
    content = [
        {
            "type": "document",
            "source": {
                "type": "base64",
                "media_type": "application/pdf",
                "data": "JVBE",
            },
            "title": "report.pdf",
            "cache_control": {"type": "ephemeral"},
        },
        {
            "type": "document",
            "source": {
                "type": "base64",
                "media_type": "application/pdf",
                "data": "JVBF",
            },
        },
        {
            "type": "document",
            "source": {"type": "text", "media_type": "text/plain", "data": "Notes."},
            "citations": {"enabled": False},
        },
        {"type": "text", "text": "Summarise."},
    ]
    out = translate(body(messages=[{"role": "user", "content": content}]))
    assert out["messages"][0]["content"] == [
        {
            "type": "file",
            "file": {
                "file_data": "data:application/pdf;base64,JVBE",
                "filename": "report.pdf",
            },
        },
        {
            "type": "file",
            "file": {
                "file_data": "data:application/pdf;base64,JVBF",
                "filename": "document.pdf",
            },
        },
        {"type": "text", "text": "Notes."},
        {"type": "text", "text": "Summarise."},
    ]


def test_tool_round_trip_keeps_ids_and_orders_results_first() -> None:
    messages = [
        {"role": "user", "content": "Weather in Paris and Rome?"},
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "hm", "signature": "sig"},
                {"type": "text", "text": "Checking."},
                {
                    "type": "tool_use",
                    "id": "toolu_01A",
                    "name": "get_weather",
                    "input": {"city": "Paris"},
                },
                {
                    "type": "tool_use",
                    "id": "toolu_01B",
                    "name": "get_weather",
                    "input": {"city": "Rome"},
                },
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_01A", "content": "18C"},
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_01B",
                    "content": [{"type": "text", "text": "no data"}],
                    "is_error": True,
                },
                {"type": "text", "text": "Thanks"},
            ],
        },
    ]
    out = translate(body(messages=messages))
    assert out["messages"][1] == {
        "role": "assistant",
        "content": "Checking.",
        "tool_calls": [
            {
                "id": "toolu_01A",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
            },
            {
                "id": "toolu_01B",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city": "Rome"}'},
            },
        ],
    }
    assert out["messages"][2:] == [
        {"role": "tool", "tool_call_id": "toolu_01A", "content": "18C"},
        {
            "role": "tool",
            "tool_call_id": "toolu_01B",
            "content": "[tool error] no data",
        },
        {"role": "user", "content": [{"type": "text", "text": "Thanks"}]},
    ]


def test_tool_only_assistant_turn_has_null_content() -> None:
    messages = [
        {"role": "user", "content": "Go"},
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "t1", "name": "f", "input": {}}],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "t1",
                    "content": [
                        {"type": "text", "text": "see image"},
                        {
                            "type": "image",
                            "source": {
                                "type": "base64",
                                "media_type": "image/jpeg",
                                "data": "/9j/",
                            },
                        },
                    ],
                }
            ],
        },
    ]
    out = translate(body(messages=messages))
    assert out["messages"][1]["content"] is None
    assert out["messages"][1]["tool_calls"][0]["function"]["arguments"] == "{}"
    # A tool message holds text only: the result's image follows as a user part.
    assert out["messages"][2] == {
        "role": "tool",
        "tool_call_id": "t1",
        "content": "see image",
    }
    assert out["messages"][3] == {
        "role": "user",
        "content": [
            {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/"}}
        ],
    }


def test_tools_and_tool_choice() -> None:
    tools = [
        {
            "name": "get_weather",
            "description": "Weather now",
            "input_schema": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
            },
            "cache_control": {"type": "ephemeral"},
        }
    ]
    out = translate(body(tools=tools, tool_choice={"type": "auto"}))
    assert out["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": tools[0]["input_schema"],
                "description": "Weather now",
            },
        }
    ]
    assert out["tool_choice"] == "auto"
    assert "parallel_tool_calls" not in out
    any_ = translate(
        body(
            tools=tools, tool_choice={"type": "any", "disable_parallel_tool_use": True}
        )
    )
    assert any_["tool_choice"] == "required"
    assert any_["parallel_tool_calls"] is False
    named = translate(
        body(tools=tools, tool_choice={"type": "tool", "name": "get_weather"})
    )
    assert named["tool_choice"] == {
        "type": "function",
        "function": {"name": "get_weather"},
    }
    assert (
        translate(body(tools=tools, tool_choice={"type": "none"}))["tool_choice"]
        == "none"
    )


def test_sampling_stop_metadata_stream() -> None:
    out = translate(
        body(
            temperature=0.2,
            top_p=0.9,
            top_k=40,
            stop_sequences=["END", "\n\nHuman:"],
            metadata={"user_id": "u-42"},
            service_tier="auto",
            stream=True,
        )
    )
    assert out["temperature"] == 0.2
    assert out["top_p"] == 0.9
    assert "top_k" not in out  # dropped: a sampling hint only
    assert out["stop"] == ["END", "\n\nHuman:"]
    assert out["user"] == "u-42"
    assert out["stream"] is True
    assert out["stream_options"] == {"include_usage": True}
    assert "service_tier" not in out
    assert "stream" not in translate(body(stream=False))


def test_structured_output() -> None:
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}},
        "required": ["name"],
        "additionalProperties": False,
    }
    out = translate(
        body(output_config={"format": {"type": "json_schema", "schema": schema}})
    )
    assert out["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "output", "schema": schema, "strict": True},
    }
    assert "response_format" not in translate(body(output_config={}))


def test_consecutive_same_role_turns_are_one_message_and_empty_prefill_dropped() -> (
    None
):
    messages = [
        {"role": "assistant", "content": "How can I help?"},
        {"role": "user", "content": "a"},
        {"role": "user", "content": [{"type": "text", "text": "b"}]},
        {"role": "assistant", "content": "c"},
        {"role": "assistant", "content": ""},
    ]
    out = translate(body(messages=messages))
    assert out["messages"] == [
        {"role": "assistant", "content": "How can I help?"},
        {
            "role": "user",
            "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
        },
        {"role": "assistant", "content": "c"},
    ]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"max_tokens": None}, "max_tokens: Field required"),
        ({"max_tokens": 0}, "max_tokens: Input should be greater than or equal to 1"),
        ({"max_tokens": "5"}, "max_tokens: Input should be a valid integer"),
        ({"max_tokens": True}, "max_tokens: Input should be a valid integer"),
        ({"model": None}, "model: Field required"),
        ({"messages": None}, "messages: Field required"),
        ({"messages": []}, "messages: at least one message is required"),
        ({"temperature": 1.5}, "temperature: Input should be between 0 and 1"),
        ({"top_p": "x"}, "top_p: Input should be a valid number"),
        ({"top_k": -1}, "top_k: Input should be greater than or equal to 0"),
        (
            {"thinking": {"type": "enabled", "budget_tokens": 2048}},
            "thinking: extended",
        ),
        ({"output_config": {"effort": "low"}}, "output_config.effort: effort is"),
        ({"output_config": {"x": 1}}, "output_config.x: Extra inputs"),
        ({"output_config": []}, "output_config: Input should be a valid dictionary"),
        (
            {"output_config": {"format": {"type": "json_object"}}},
            "output_config.format.type: Input should be 'json_schema'",
        ),
        (
            {"output_config": {"format": {"type": "json_schema"}}},
            "output_config.format.schema: Input should be a valid dictionary",
        ),
        ({"frobnicate": 1}, "frobnicate: Extra inputs are not permitted"),
        ({"stop_sequences": "END"}, "stop_sequences: Input should be a valid list"),
        ({"stop_sequences": ["  "]}, "stop_sequences.0: each stop sequence"),
        ({"stop_sequences": list("abcde")}, "stop_sequences: this gateway accepts"),
        ({"metadata": {"user_id": 5}}, "metadata.user_id: Input should be a valid"),
        ({"metadata": {"team": "x"}}, "metadata.team: Extra inputs are not permitted"),
        ({"stream": "yes"}, "stream: Input should be a valid boolean"),
        ({"service_tier": "priority"}, "service_tier: Input should be"),
        ({"system": [{"type": "image"}]}, "system.0.type: "),
        ({"system": 5}, "system: Input should be"),
        ({"tool_choice": {"type": "sometimes"}}, "tool_choice.type: Input should be"),
        ({"tool_choice": {"type": ["auto"]}}, "tool_choice.type: Input should be"),
        ({"tool_choice": {"type": "tool"}}, "tool_choice.name: Field required"),
        ({"tool_choice": {"type": "none", "name": "f"}}, "tool_choice.name: Extra"),
        ({"tool_choice": "auto"}, "tool_choice: Input should be a valid dictionary"),
        ({"tools": {}}, "tools: Input should be a valid list"),
        (
            {"tools": [{"type": "web_search_20250305", "name": "web_search"}]},
            "tools.0.type: server tool 'web_search_20250305' is not supported",
        ),
        ({"tools": [{"name": "f"}]}, "tools.0.input_schema: Field required"),
        (
            {"tools": [{"name": "get weather", "input_schema": {"type": "object"}}]},
            "tools.0.name: String should match pattern",
        ),
        (
            {"tools": [{"name": "f", "input_schema": {"type": "object"}}] * 129},
            "tools: this gateway accepts at most 128 tools",
        ),
        (
            {"tools": [{"name": "f", "input_schema": {"type": "array"}}]},
            "tools.0.input_schema.type: Input should be 'object'",
        ),
        (
            {"tools": [{"name": "f", "input_schema": {"type": "object"}, "x": 1}]},
            "tools.0.x: Extra inputs are not permitted",
        ),
    ],
)
def test_bad_top_level_fields(change: dict[str, Any], message: str) -> None:
    value = body()
    for key, item in change.items():
        if item is None:
            value.pop(key)
        else:
            value[key] = item
    err = refused(value)
    assert err.message.startswith(message), err.message


def user(*blocks: Any) -> dict[str, Any]:
    return body(messages=[{"role": "user", "content": list(blocks)}])


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            body(messages=[{"role": "system", "content": "x"}]),
            "messages.0.role: Input should be 'user' or 'assistant'",
        ),
        (body(messages=["hi"]), "messages.0: Input should be a valid dictionary"),
        (body(messages=[{"role": "user"}]), "messages.0.content: Field required"),
        (
            body(messages=[{"role": "user", "content": "x", "name": "bob"}]),
            "messages.0.name: Extra inputs are not permitted",
        ),
        (
            body(messages=[{"role": "user", "content": ""}]),
            "messages.0: all messages must have non-empty content",
        ),
        (
            body(
                messages=[
                    {"role": "user", "content": "x"},
                    {"role": "assistant", "content": []},
                    {"role": "user", "content": "y"},
                ]
            ),
            "messages.1: all messages must have non-empty content",
        ),
        (
            user({"type": "text", "text": ""}),
            "messages.0.content.0: text content blocks",
        ),
        (user({"type": "text"}), "messages.0.content.0.text: Input should be a valid"),
        (user({"text": "x"}), "messages.0.content.0.type: Field required"),
        (
            user({"type": "text", "text": "a"}, {"type": "video"}),
            "messages.0.content.1.type: Input tag 'video'",
        ),
        (
            user({"type": "document", "source": {"type": "url", "url": "https://x"}}),
            "messages.0.content.0.source.type: Input tag 'url' is not supported",
        ),
        (
            user({"type": "document", "source": {"type": "file", "file_id": "f"}}),
            "messages.0.content.0.source.type: Input tag 'file' is not supported",
        ),
        (
            user(
                {
                    "type": "document",
                    "source": {
                        "type": "base64",
                        "media_type": "image/png",
                        "data": "x",
                    },
                }
            ),
            "messages.0.content.0.source.media_type: Input should be 'application/pdf'",
        ),
        (
            user(
                {
                    "type": "document",
                    "source": {"type": "text", "media_type": "text/plain", "data": "x"},
                    "citations": {"enabled": True},
                }
            ),
            "messages.0.content.0.citations: citations are not supported",
        ),
        (
            user({"type": "search_result", "source": "s"}),
            "messages.0.content.0.type: Input tag 'search_result'",
        ),
        (
            user({"type": "tool_use", "id": "t", "name": "f", "input": {}}),
            "messages.0.content.0.type: Input tag 'tool_use'",
        ),
        (
            user({"type": "image", "source": {"type": "base64", "data": "x"}}),
            "messages.0.content.0.source.media_type: Input should be",
        ),
        (
            user(
                {
                    "type": "image",
                    "source": {
                        "type": "base64",
                        "media_type": "image/bmp",
                        "data": "x",
                    },
                }
            ),
            "messages.0.content.0.source.media_type: Input should be",
        ),
        (
            user(
                {
                    "type": "image",
                    "source": {"type": "base64", "media_type": [], "data": "x"},
                }
            ),
            "messages.0.content.0.source.media_type: Input should be",
        ),
        (
            user({"type": "image", "source": {"type": "file", "file_id": "f"}}),
            "messages.0.content.0.source.type: Input tag 'file'",
        ),
        (
            user({"type": "image", "source": {"type": "url", "url": ""}}),
            "messages.0.content.0.source.url: Input should be a non-empty string",
        ),
        (
            user({"type": "tool_result", "content": "x"}),
            "messages.0.content.0.tool_use_id: Input should be",
        ),
        (
            user({"type": "tool_result", "tool_use_id": "t", "is_error": "yes"}),
            "messages.0.content.0.is_error: Input should be a valid boolean",
        ),
        (
            user(
                {
                    "type": "tool_result",
                    "tool_use_id": "t",
                    "content": [{"type": "document"}],
                }
            ),
            "messages.0.content.0.content.0.type: Input tag 'document'",
        ),
        (
            body(
                messages=[
                    {"role": "user", "content": "x"},
                    {
                        "role": "assistant",
                        "content": [{"type": "tool_use", "name": "f", "input": {}}],
                    },
                ]
            ),
            "messages.1.content.0.id: Input should be a non-empty string",
        ),
        (
            body(
                messages=[
                    {"role": "user", "content": "x"},
                    {
                        "role": "assistant",
                        "content": [
                            {"type": "tool_use", "id": "t", "name": "f", "input": []}
                        ],
                    },
                ]
            ),
            "messages.1.content.0.input: Input should be a valid dictionary",
        ),
        (
            body(
                messages=[
                    {"role": "user", "content": "x"},
                    {
                        "role": "assistant",
                        "content": [
                            {
                                "type": "image",
                                "source": {"type": "url", "url": "https://x.test/a"},
                            }
                        ],
                    },
                ]
            ),
            "messages.1.content.0.type: Input tag 'image'",
        ),
    ],
)
def test_bad_messages_name_the_block(value: dict[str, Any], message: str) -> None:
    err = refused(value)
    assert err.message.startswith(message), err.message
    assert err.param == message.split(":")[0]


def test_body_must_be_an_object() -> None:
    err = refused([])  # type: ignore[arg-type]  # a JSON array sent as the body
    assert "JSON object" in err.message


def call(call_id: str) -> dict[str, Any]:
    return {"type": "tool_use", "id": call_id, "name": "f", "input": {}}


def result(call_id: str) -> dict[str, Any]:
    return {"type": "tool_result", "tool_use_id": call_id, "content": "ok"}


def test_tool_pairs_by_turn() -> None:
    # Consecutive same-role messages are one turn, as Anthropic combines them.
    messages = [
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": [call("a")]},
        {"role": "assistant", "content": [call("b")]},
        {"role": "user", "content": [result("b")]},
        {"role": "user", "content": [result("a"), {"type": "text", "text": "next"}]},
        {"role": "assistant", "content": [call("c")]},  # final: no answer needed yet
    ]
    out = translate(body(messages=messages))
    assert out["messages"][1:] == [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "a",
                    "type": "function",
                    "function": {"name": "f", "arguments": "{}"},
                },
                {
                    "id": "b",
                    "type": "function",
                    "function": {"name": "f", "arguments": "{}"},
                },
            ],
        },
        # Tool messages right after the calls, then the turn's other parts.
        {"role": "tool", "tool_call_id": "b", "content": "ok"},
        {"role": "tool", "tool_call_id": "a", "content": "ok"},
        {"role": "user", "content": [{"type": "text", "text": "next"}]},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "c",
                    "type": "function",
                    "function": {"name": "f", "arguments": "{}"},
                }
            ],
        },
    ]


@pytest.mark.parametrize(
    ("messages", "message"),
    [
        (
            [
                {"role": "user", "content": "go"},
                {"role": "assistant", "content": [call("a"), call("b")]},
                {"role": "user", "content": [result("a")]},
            ],
            "messages.2: `tool_use` ids were found without `tool_result` blocks "
            "immediately after: b.",
        ),
        (
            [
                {"role": "user", "content": "go"},
                {"role": "assistant", "content": [call("a")]},
                {"role": "user", "content": "forgot the result"},
            ],
            "messages.2: `tool_use` ids were found without `tool_result` blocks "
            "immediately after: a.",
        ),
        (
            [{"role": "user", "content": [result("a")]}],
            "messages.0.content.0: unexpected `tool_use_id` found in `tool_result` "
            "blocks: a.",
        ),
        (
            [
                {"role": "user", "content": "go"},
                {"role": "assistant", "content": [call("a")]},
                {"role": "user", "content": [result("a"), result("zz")]},
            ],
            "messages.2.content.1: unexpected `tool_use_id` found in `tool_result` "
            "blocks: zz.",
        ),
        (
            [
                {"role": "user", "content": "go"},
                {"role": "assistant", "content": [call("a")]},
                {"role": "user", "content": [result("a")]},
                {"role": "assistant", "content": [call("a")]},
            ],
            "messages.3.content.0: `tool_use` ids must be unique",
        ),
    ],
)
def test_unpaired_tools_are_refused(
    messages: list[dict[str, Any]], message: str
) -> None:
    err = refused(body(messages=messages))
    assert err.message.startswith(message), err.message


@pytest.mark.parametrize("role", ["user", "assistant"])
@pytest.mark.parametrize("item", ["hi", ""])
def test_a_bare_string_inside_a_content_list_is_a_400(role: str, item: str) -> None:
    # A content list holds block objects; a string in it once passed the
    # translation (taken for a merged string message) and then crashed the
    # tool-pairing check: a 500 instead of Anthropic's 400.
    messages = [{"role": role, "content": [item]}]
    if role == "assistant":
        messages.append({"role": "user", "content": "next"})
    err = refused(body(messages=messages))
    assert err.message == "messages.0.content.0: Input should be a valid dictionary"


def test_thinking_disabled_is_the_default_not_a_refusal() -> None:
    # {"type": "disabled"} asks for what this path always gives (no thinking):
    # refusing it turned away clients that state the default explicitly.
    assert translate(body(thinking={"type": "disabled"})) == translate(body())
    for value in ({"type": "adaptive"}, {"type": "disabled", "budget_tokens": 1}):
        assert refused(body(thinking=value)).message.startswith("thinking: extended")
