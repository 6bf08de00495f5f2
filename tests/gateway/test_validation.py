"""gateway.validation as vectors: each bad body and the field its 400 names."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.errors import GatewayError
from gateway.validation import validate_chat, validate_embeddings

USER = {"role": "user", "content": "hi"}
CHAT = {"model": "m", "messages": [USER]}


def refused(check, body: dict) -> GatewayError:
    with pytest.raises(GatewayError) as info:
        check(body)
    assert info.value.status == 400
    assert info.value.type == "invalid_request_error"
    return info.value


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"temperature": 2.5}, "temperature"),
        ({"temperature": "hot"}, "temperature"),
        ({"top_p": -0.1}, "top_p"),
        ({"n": True}, "n"),
        ({"n": 129}, "n"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"max_completion_tokens": 1.5}, "max_completion_tokens"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
        ({"stop": 123}, "stop"),
        ({"stop": ["a", 1]}, "stop[1]"),
        ({"presence_penalty": 2.1}, "presence_penalty"),
        ({"logit_bias": {"50256": 101}}, "logit_bias.50256"),
        ({"top_logprobs": 21}, "top_logprobs"),
        ({"seed": 1e30}, "seed"),
        ({"stream": "yes"}, "stream"),
        ({"stream_options": {"include_usage": 1}}, "stream_options.include_usage"),
        ({"tools": [{"type": "function"}]}, "tools[0].function"),
        (
            {"tools": [{"type": "function", "function": {"name": "bad name"}}]},
            "tools[0].function.name",
        ),
        ({"tool_choice": "always"}, "tool_choice"),
        ({"parallel_tool_calls": "true"}, "parallel_tool_calls"),
        ({"response_format": {"type": "yaml"}}, "response_format.type"),
        ({"response_format": {"type": "json_schema"}}, "response_format.json_schema"),
        ({"reasoning_effort": "max"}, "reasoning_effort"),
        ({"metadata": {"k": 1}}, "metadata.k"),
        ({"user": 42}, "user"),
        ({"model": ""}, "model"),
        ({"model": "x" * 357}, "model"),
        ({"model": "a\nb"}, "model"),
        ({"model": ["m"]}, "model"),
        ({"messages": []}, "messages"),
        ({"messages": "hi"}, "messages"),
        ({"messages": [{"role": "robot", "content": "x"}]}, "messages[0].role"),
        ({"messages": [{"role": "user"}]}, "messages[0].content"),
        ({"messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
        (
            {"messages": [{"role": "user", "content": [{"type": "video"}]}]},
            "messages[0].content[0].type",
        ),
        (
            {
                "messages": [
                    USER,
                    {
                        "role": "user",
                        "content": [{"type": "image_url", "image_url": {"url": ""}}],
                    },
                ]
            },
            "messages[1].content[0].image_url.url",
        ),
        (
            {"messages": [{"role": "assistant", "tool_calls": "x"}]},
            "messages[0].tool_calls",
        ),
        (
            {
                "messages": [
                    {
                        "role": "assistant",
                        "tool_calls": [
                            {"id": "c", "function": {"name": "f", "arguments": {}}}
                        ],
                    }
                ]
            },
            "messages[0].tool_calls[0].function.arguments",
        ),
        ({"messages": [{"role": "tool", "content": "x"}]}, "messages[0].tool_call_id"),
    ],
)
def test_a_bad_chat_field_is_refused_naming_its_path(extra, param):
    assert refused(validate_chat, {**CHAT, **extra}).param == param


def test_unknown_fields_and_every_documented_shape_pass():
    validate_chat(
        {
            **CHAT,
            "messages": [
                {"role": "developer", "content": [{"type": "text", "text": "be"}]},
                {"role": "assistant", "content": None, "refusal": None},
                {"role": "tool", "tool_call_id": "c", "content": "ok"},
            ],
            "temperature": 2,
            "top_p": 0,
            "n": 1,
            "stop": "END",
            "seed": -(2**63),
            "tools": [{"type": "function", "function": {"name": "a-b_c"}}],
            "tool_choice": {"type": "function", "function": {"name": "a-b_c"}},
            "response_format": {"type": "json_schema", "json_schema": {"name": "x"}},
            "vendor_extension": {"anything": [1, 2, 3]},
        }
    )


def test_json_deeper_than_64_levels_is_refused():
    deep: Any = "leaf"
    for _ in range(64):  # 64 arrays inside the body object: 65 levels
        deep = [deep]
    assert refused(validate_chat, {**CHAT, "x": deep}).code == "nesting_too_deep"
    validate_chat({**CHAT, "x": deep[0]})


@pytest.mark.parametrize(
    ("value", "param"),
    [
        ("", "input"),
        ([], "input"),
        (["ok", ""], "input[1]"),
        (["ok", 3], "input[1]"),
        ([[1, 2], []], "input[1]"),
        ([[1, -2]], "input[0][1]"),
        ([1, True], "input[1]"),
        (["x"] * 2049, "input"),
        ({"text": "x"}, "input"),
    ],
)
def test_a_bad_embeddings_input_is_refused_naming_its_path(value, param):
    body = {"model": "m", "input": value}
    assert refused(validate_embeddings, body).param == param


def test_embeddings_options_are_checked():
    body = {"model": "m", "input": "x"}
    assert refused(validate_embeddings, {**body, "dimensions": 0}).param == "dimensions"
    error = refused(validate_embeddings, {**body, "encoding_format": "int8"})
    assert error.param == "encoding_format"
    validate_embeddings({**body, "input": [[1, 2], [3]], "dimensions": 256})
