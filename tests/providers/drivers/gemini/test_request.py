"""gemini: request translation (canonical request → vendor body), pure vectors."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from providers.drivers.errors import DriverError
from providers.drivers.gemini.response import (
    parse_chat_response,
)
from providers.drivers.gemini.schema import gemini_schema
from providers.drivers.gemini.signatures import (
    DUMMY_SIGNATURE,
    decode_tool_id,
    encode_tool_id,
)
from providers.drivers.gemini.translate import build_chat_body
from providers.drivers.images import image_refs as image_urls
from tests.providers.drivers.gemini.support import (
    MODEL,
    TIME,
    TOOL_HISTORY,
    WEATHER,
    body_for,
)
from tests.providers.drivers.vectors import user


def test_system_and_developer_messages_become_the_system_instruction() -> None:
    body = body_for(
        messages=[
            {"role": "system", "content": "You are terse."},
            {"role": "developer", "content": [{"type": "text", "text": "Be kind."}]},
            user("Hi"),
            {"role": "assistant", "content": "Hello."},
            user("Weather?"),
        ]
    )
    assert body["systemInstruction"] == {
        "parts": [{"text": "You are terse."}, {"text": "Be kind."}]
    }
    assert body["contents"] == [
        {"role": "user", "parts": [{"text": "Hi"}]},
        {"role": "model", "parts": [{"text": "Hello."}]},
        {"role": "user", "parts": [{"text": "Weather?"}]},
    ]
    assert "generationConfig" not in body
    assert "tools" not in body


def test_same_role_neighbours_are_merged_and_empty_text_dropped() -> None:
    body = body_for(
        messages=[
            user("one"),
            user(""),
            user("two"),
            {"role": "assistant", "content": ""},
        ]
    )
    assert body["contents"] == [
        {"role": "user", "parts": [{"text": "one"}, {"text": "two"}]}
    ]


def test_images_are_inlined_from_data_urls_and_fetched_urls() -> None:
    png = base64.b64encode(b"\x89PNG fake").decode()
    request = {
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is this?"},
                    {
                        "type": "image_url",
                        "image_url": {"url": f"data:image/png;base64,{png}"},
                    },
                    {
                        "type": "image_url",
                        "image_url": {"url": "https://x.test/cat.jpg"},
                    },
                ],
            }
        ]
    }
    assert image_urls(request) == [
        ("https://x.test/cat.jpg", "messages[0].content[2].image_url.url")
    ]
    body = build_chat_body(
        request, MODEL, images={"https://x.test/cat.jpg": ("image/jpeg", "QUJD")}
    )
    assert body["contents"][0]["parts"] == [
        {"text": "What is this?"},
        {"inlineData": {"mimeType": "image/png", "data": png}},
        {"inlineData": {"mimeType": "image/jpeg", "data": "QUJD"}},
    ]
    with pytest.raises(DriverError) as err:
        build_chat_body(request, MODEL)  # the URL was not fetched
    assert err.value.status == 400
    assert err.value.param == "messages[0].content[2].image_url.url"


def test_tools_become_function_declarations_with_a_clean_schema() -> None:
    body = body_for(messages=[user("hi")], tools=[WEATHER, TIME])
    assert body["tools"] == [
        {
            "functionDeclarations": [
                {
                    "name": "get_weather",
                    "description": "Weather for a city",
                    "parameters": {
                        "type": "object",
                        "properties": {"city": {"type": "string"}},
                        "required": ["city"],
                    },
                },
                {"name": "get_time"},  # no properties: parameters omitted
            ]
        }
    ]


def test_schema_cleaning_inlines_refs_and_rewrites_unsupported_keywords() -> None:
    schema = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "additionalProperties": False,
        "$defs": {"Unit": {"type": "string", "enum": ["C", "F"]}},
        "properties": {
            "unit": {"$ref": "#/$defs/Unit"},
            "note": {"type": ["string", "null"], "format": "uri", "maxLength": 9},
            "mode": {"const": "fast"},
            "count": {"type": "integer", "enum": [1, 2], "exclusiveMinimum": 0},
            "when": {"type": "string", "format": "date-time"},
            "pick": {"oneOf": [{"type": "string"}, {"type": "integer"}]},
            "maybe": {"anyOf": [{"type": "number"}, {"type": "null"}]},
            "tags": {"type": "array", "items": {"type": "string", "examples": ["a"]}},
        },
        "required": ["unit", "ghost"],
    }
    assert gemini_schema(schema) == {
        "type": "object",
        "properties": {
            "unit": {"type": "string", "enum": ["C", "F"]},
            "note": {"nullable": True, "type": "string", "maxLength": 9},
            "mode": {"type": "string", "enum": ["fast"]},
            "count": {"type": "integer", "description": "(one of 1, 2)"},
            "when": {"type": "string", "format": "date-time"},
            "pick": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
            "maybe": {"type": "number", "nullable": True},
            "tags": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["unit"],
    }


def test_recursive_refs_stop_instead_of_looping() -> None:
    schema = {
        "type": "object",
        "$defs": {
            "Node": {
                "type": "object",
                "properties": {"child": {"$ref": "#/$defs/Node"}},
            }
        },
        "properties": {"root": {"$ref": "#/$defs/Node"}},
    }
    assert json.dumps(gemini_schema(schema)).count("child") > 3


@pytest.mark.parametrize(
    ("choice", "config"),
    [
        ("auto", {"mode": "AUTO"}),
        ("none", {"mode": "NONE"}),
        ("required", {"mode": "ANY"}),
        (
            {"type": "function", "function": {"name": "get_time"}},
            {"mode": "ANY", "allowedFunctionNames": ["get_time"]},
        ),
        (
            {
                "type": "allowed_tools",
                "allowed_tools": {
                    "mode": "required",
                    "tools": [{"type": "function", "function": {"name": "get_time"}}],
                },
            },
            {"mode": "ANY", "allowedFunctionNames": ["get_time"]},
        ),
    ],
)
def test_tool_choice_maps_to_function_calling_config(choice: Any, config: Any) -> None:
    body = body_for(messages=[user("hi")], tools=[WEATHER, TIME], tool_choice=choice)
    assert body["toolConfig"] == {"functionCallingConfig": config}
    assert len(body["tools"][0]["functionDeclarations"]) == 2


def test_allowed_tools_in_auto_mode_send_only_those_tools() -> None:
    choice = {
        "type": "allowed_tools",
        "allowed_tools": {
            "mode": "auto",
            "tools": [{"type": "function", "function": {"name": "get_weather"}}],
        },
    }
    body = body_for(messages=[user("hi")], tools=[WEATHER, TIME], tool_choice=choice)
    assert body["toolConfig"] == {"functionCallingConfig": {"mode": "AUTO"}}
    assert [d["name"] for d in body["tools"][0]["functionDeclarations"]] == [
        "get_weather"
    ]


@pytest.mark.parametrize(
    ("tools", "choice"),
    [
        ([WEATHER], {"type": "function", "function": {"name": "nope"}}),
        (None, "required"),
        ([WEATHER], "sometimes"),
    ],
)
def test_tool_choice_that_cannot_be_honoured_is_400(tools: Any, choice: Any) -> None:
    request: dict[str, Any] = {"messages": [user("hi")], "tool_choice": choice}
    if tools:
        request["tools"] = tools
    with pytest.raises(DriverError) as err:
        build_chat_body(request, MODEL)
    assert (err.value.status, err.value.param) == (400, "tool_choice")


def test_non_function_tools_are_400() -> None:
    with pytest.raises(DriverError) as err:
        body_for(messages=[user("hi")], tools=[{"type": "custom", "custom": {}}])
    assert err.value.param == "tools[0].type"


def test_gemini_3_history_without_signatures_gets_the_dummy_signature() -> None:
    plain = [dict(m) for m in TOOL_HISTORY]
    plain[1] = {
        **plain[1],
        "tool_calls": [
            {**c, "id": f"id{i}"} for i, c in enumerate(plain[1]["tool_calls"])
        ],
    }
    plain[2] = {**plain[2], "tool_call_id": "id1"}
    plain[3] = {**plain[3], "tool_call_id": "id0"}
    body = build_chat_body({"messages": plain}, "gemini-3-pro-preview")
    calls = [p for p in body["contents"][1]["parts"] if "functionCall" in p]
    assert calls[0]["thoughtSignature"] == DUMMY_SIGNATURE
    assert "thoughtSignature" not in calls[1]
    older = build_chat_body({"messages": plain}, MODEL)
    assert not any("thoughtSignature" in p for p in older["contents"][1]["parts"])


def test_generation_config_maps_every_supported_parameter() -> None:
    body = body_for(
        messages=[user("hi")],
        max_tokens=10,
        max_completion_tokens=512,
        temperature=0.2,
        top_p=0.9,
        stop="END",
        n=2,
        seed=7,
        presence_penalty=0.5,
        frequency_penalty=0.1,
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "x", "schema": {"type": "object"}},
        },
        user="u-1",
        parallel_tool_calls=False,
        logit_bias={"1": 2},
        reasoning_effort="low",
    )
    assert body["generationConfig"] == {
        "maxOutputTokens": 512,
        "temperature": 0.2,
        "topP": 0.9,
        "stopSequences": ["END"],
        "candidateCount": 2,
        "seed": 7,
        "presencePenalty": 0.5,
        "frequencyPenalty": 0.1,
        "responseMimeType": "application/json",
        "responseJsonSchema": {"type": "object"},
        "thinkingConfig": {"thinkingBudget": 1024},
    }
    assert set(body) == {"contents", "generationConfig"}


def test_json_object_and_gemini_3_thinking_levels() -> None:
    body = build_chat_body(
        {
            "messages": [user("hi")],
            "response_format": {"type": "json_object"},
            "reasoning_effort": "high",
        },
        "models/gemini-3-pro-preview",
    )
    assert body["generationConfig"] == {
        "responseMimeType": "application/json",
        "thinkingConfig": {"thinkingLevel": "high"},
    }


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"logprobs": True}, "logprobs"),
        ({"n": 0}, "n"),
        ({"response_format": {"type": "grammar"}}, "response_format"),
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "system", "content": "only"}]}, "messages"),
        ({"messages": [{"role": "robot", "content": "x"}]}, "messages[0].role"),
    ],
)
def test_shape_changing_or_malformed_requests_are_400(extra: Any, param: str) -> None:
    with pytest.raises(DriverError) as err:
        build_chat_body({"messages": [user("hi")], **extra}, MODEL)
    assert (err.value.status, err.value.param) == (400, param)


def test_tool_ids_carry_signatures_round_trip() -> None:
    sig = base64.b64encode(bytes(range(200))).decode()
    tool_id = encode_tool_id(None, sig)
    assert tool_id.startswith("call_")
    assert all(c.isalnum() or c in "_-" for c in tool_id)
    assert decode_tool_id(tool_id)[1] == sig
    assert decode_tool_id("call_plain") == ("call_plain", None)
    assert encode_tool_id("fc-1", None) == "fc-1"


def test_several_candidates_become_several_choices() -> None:
    data = {
        "candidates": [
            {
                "content": {"parts": [{"text": "B"}]},
                "finishReason": "MAX_TOKENS",
                "index": 1,
            },
            {"content": {"parts": [{"text": "A"}]}, "finishReason": "STOP", "index": 0},
        ]
    }
    out = parse_chat_response(data)
    assert [
        (c["index"], c["message"]["content"], c["finish_reason"])
        for c in out["choices"]
    ] == [
        (0, "A", "stop"),
        (1, "B", "length"),
    ]
