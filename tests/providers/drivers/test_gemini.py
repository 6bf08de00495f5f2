"""Gemini driver: translation vectors, and I/O against the fake over loopback."""

from __future__ import annotations

import asyncio
import base64
import json
import struct
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from aiohttp import web
from django.test import override_settings

from providers.drivers.config import DriverConfig, Timeouts
from providers.drivers.errors import DriverError
from providers.drivers.gemini.discovery import parse_models_page
from providers.drivers.gemini.driver import GeminiDriver
from providers.drivers.gemini.embeddings import build_embed_bodies, embeddings_result
from providers.drivers.gemini.errors import error_from_gemini
from providers.drivers.gemini.response import (
    EventDecoder,
    StreamTranslator,
    map_finish_reason,
    parse_chat_response,
    parse_usage,
)
from providers.drivers.gemini.schema import gemini_schema
from providers.drivers.gemini.signatures import (
    DUMMY_SIGNATURE,
    decode_tool_id,
    encode_tool_id,
)
from providers.drivers.gemini.translate import build_chat_body, build_chat_request
from providers.drivers.images import image_refs as image_urls
from providers.health import health_of
from providers.http import build_client
from tests.fakes import gemini as fake
from tests.fakes.server import serve

MODEL = "gemini-2.5-flash"
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
            "additionalProperties": False,
        },
        "strict": True,
    },
}
TIME = {
    "type": "function",
    "function": {"name": "get_time", "parameters": {"type": "object"}},
}


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


def body_for(**request: Any) -> dict[str, Any]:
    return build_chat_body(request, MODEL)


def cfg(url: str = "", key: str = fake.API_KEY, **options: Any) -> DriverConfig:
    timeouts = options.pop("timeouts", Timeouts())
    return DriverConfig(
        provider_type="gemini",
        base_url=f"{url}/v1beta" if url else "",
        auth_method="api_key",
        credentials={"api_key": key},
        config=options,
        timeouts=timeouts,
        name="test gemini",
    )


def run_on(
    url: str,
    fn: Callable[[GeminiDriver], Awaitable[Any]],
    key: str = fake.API_KEY,
    **options: Any,
) -> Any:
    async def main() -> Any:
        client = build_client()
        try:
            return await fn(GeminiDriver(cfg(url, key, **options), client))
        finally:
            await client.aclose()

    return asyncio.run(main())


def run(
    app: web.Application,
    fn: Callable[[GeminiDriver], Awaitable[Any]],
    key: str = fake.API_KEY,
    **options: Any,
) -> Any:
    with serve(app) as server:
        return run_on(server.url, fn, key, **options)


async def collect(driver: GeminiDriver, request: dict[str, Any]) -> list[Any]:
    return [chunk async for chunk in driver.chat_stream(request, MODEL)]


def content_of(chunks: list[dict[str, Any]]) -> str:
    return "".join(
        c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"]
    )


def finish_of(chunks: list[dict[str, Any]]) -> list[str]:
    return [
        c["choices"][0]["finish_reason"]
        for c in chunks
        if c["choices"] and c["choices"][0]["finish_reason"]
    ]


# -- request translation -------------------------------------------------------


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


def test_unsupported_content_parts_are_refused() -> None:
    request = {"messages": [{"role": "user", "content": [{"type": "video", "x": 1}]}]}
    with pytest.raises(DriverError) as err:
        build_chat_body(request, MODEL)
    assert (err.value.status, err.value.param) == (400, "messages[0].content[0].type")


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


TOOL_HISTORY = [
    user("Weather in Paris and the time?"),
    {
        "role": "assistant",
        "content": "Checking.",
        "tool_calls": [
            {
                "id": encode_tool_id("call_a", "c2lnbmF0dXJl+/=="),
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
            },
            {
                "id": "call_b",
                "type": "function",
                "function": {"name": "get_time", "arguments": ""},
            },
        ],
    },
    {"role": "tool", "tool_call_id": "call_b", "content": "noon"},
    {
        "role": "tool",
        "tool_call_id": encode_tool_id("call_a", "c2lnbmF0dXJl+/=="),
        "content": [{"type": "text", "text": '{"temp_c": 18}'}],
    },
    user("Thanks, and tomorrow?"),
]


def test_assistant_tool_calls_and_results_translate_with_signatures() -> None:
    body = body_for(messages=TOOL_HISTORY, tools=[WEATHER, TIME])
    assert body["contents"][1:] == [
        {
            "role": "model",
            "parts": [
                {"text": "Checking."},
                {
                    "functionCall": {"name": "get_weather", "args": {"city": "Paris"}},
                    "thoughtSignature": "c2lnbmF0dXJl+/==",
                },
                {"functionCall": {"name": "get_time", "args": {}}},
            ],
        },
        {
            "role": "user",
            "parts": [
                {
                    "functionResponse": {
                        "name": "get_time",
                        "response": {"content": "noon"},
                    }
                },
                {
                    "functionResponse": {
                        "name": "get_weather",
                        "response": {"temp_c": 18},
                    }
                },
                {"text": "Thanks, and tomorrow?"},
            ],
        },
    ]


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


def test_invalid_tool_call_arguments_are_400_naming_the_param() -> None:
    messages = [
        user("hi"),
        {
            "role": "assistant",
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "f", "arguments": "{oops"},
                }
            ],
        },
    ]
    with pytest.raises(DriverError) as err:
        body_for(messages=messages)
    assert err.value.status == 400
    assert err.value.param == "messages[1].tool_calls[0].function.arguments"


def test_tool_result_for_an_unknown_call_is_400() -> None:
    messages = [user("hi"), {"role": "tool", "tool_call_id": "nope", "content": "x"}]
    with pytest.raises(DriverError) as err:
        body_for(messages=messages)
    assert err.value.param == "messages[1].tool_call_id"


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


def test_tool_ids_carry_signatures_round_trip() -> None:
    sig = base64.b64encode(bytes(range(200))).decode()
    tool_id = encode_tool_id(None, sig)
    assert tool_id.startswith("call_")
    assert all(c.isalnum() or c in "_-" for c in tool_id)
    assert decode_tool_id(tool_id)[1] == sig
    assert decode_tool_id("call_plain") == ("call_plain", None)
    assert encode_tool_id("fc-1", None) == "fc-1"


# -- response translation ------------------------------------------------------


@pytest.mark.parametrize(
    ("reason", "tools", "expected"),
    [
        ("STOP", False, "stop"),
        ("STOP", True, "tool_calls"),
        (None, False, "stop"),
        ("FINISH_REASON_UNSPECIFIED", False, "stop"),
        ("MAX_TOKENS", False, "length"),
        ("MAX_TOKENS", True, "length"),
        ("SAFETY", False, "content_filter"),
        ("RECITATION", False, "content_filter"),
        ("BLOCKLIST", False, "content_filter"),
        ("PROHIBITED_CONTENT", False, "content_filter"),
        ("SPII", False, "content_filter"),
        ("IMAGE_SAFETY", False, "content_filter"),
        ("MALFORMED_FUNCTION_CALL", False, "stop"),
    ],
)
def test_finish_reasons_map_per_table(reason: Any, tools: bool, expected: str) -> None:
    assert map_finish_reason(reason, tools) == expected


def test_usage_adds_tool_prompt_and_thought_tokens() -> None:
    usage = parse_usage(
        {
            "promptTokenCount": 100,
            "toolUsePromptTokenCount": 5,
            "candidatesTokenCount": 20,
            "thoughtsTokenCount": 30,
            "cachedContentTokenCount": 64,
            "totalTokenCount": 155,
        }
    )
    assert usage == {
        "prompt_tokens": 105,
        "completion_tokens": 50,
        "total_tokens": 155,
        "prompt_tokens_details": {"cached_tokens": 64},
        "completion_tokens_details": {"reasoning_tokens": 30},
    }


def test_a_response_with_thoughts_text_and_calls_becomes_one_choice() -> None:
    data = {
        "candidates": [
            {
                "content": {
                    "role": "model",
                    "parts": [
                        {"text": "Let me think.", "thought": True},
                        {"text": "Checking"},
                        {"text": "."},
                        {
                            "functionCall": {
                                "name": "get_weather",
                                "args": {"city": "Paris"},
                            },
                            "thoughtSignature": "AAEC",
                        },
                        {
                            "functionCall": {
                                "name": "get_time",
                                "args": {},
                                "id": "fc-9",
                            }
                        },
                    ],
                },
                "finishReason": "STOP",
                "index": 0,
            }
        ],
        "usageMetadata": {"promptTokenCount": 11, "candidatesTokenCount": 7},
        "responseId": "abc",
    }
    out = parse_chat_response(data, "m")
    assert out["id"] == "chatcmpl-abc"
    assert out["object"] == "chat.completion"
    choice = out["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    message = choice["message"]
    assert message["content"] == "Checking."
    assert message["reasoning_content"] == "Let me think."
    first, second = message["tool_calls"]
    assert first["function"] == {
        "name": "get_weather",
        "arguments": '{"city": "Paris"}',
    }
    assert first["id"].startswith("call_") and len(first["id"].split("__ts__")[0]) == 29
    assert decode_tool_id(first["id"])[1] == "AAEC"
    assert second["id"] == "fc-9"
    assert out["usage"]["total_tokens"] == 18


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


def test_a_blocked_prompt_is_an_empty_content_filter_answer() -> None:
    out = parse_chat_response({"promptFeedback": {"blockReason": "SAFETY"}})
    assert out["choices"] == [
        {
            "index": 0,
            "message": {"role": "assistant", "content": ""},
            "finish_reason": "content_filter",
            "logprobs": None,
        }
    ]


# -- errors --------------------------------------------------------------------


def google(status: int, gstatus: str, message: str, **extra: Any) -> bytes:
    return json.dumps(
        {"error": {"code": status, "message": message, "status": gstatus, **extra}}
    ).encode()


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


@pytest.mark.parametrize(
    ("status", "gstatus", "expected"),
    [
        (400, "INVALID_ARGUMENT", (400, "upstream_invalid_request")),
        (400, "FAILED_PRECONDITION", (400, "upstream_invalid_request")),
        (401, "UNAUTHENTICATED", (502, "upstream_auth_error")),
        (403, "PERMISSION_DENIED", (502, "upstream_auth_error")),
        (404, "NOT_FOUND", (502, "upstream_model_not_found")),
        (429, "RESOURCE_EXHAUSTED", (429, "upstream_rate_limited")),
        (500, "INTERNAL", (502, "upstream_error")),
        (503, "UNAVAILABLE", (503, "upstream_unavailable")),
        (504, "DEADLINE_EXCEEDED", (504, "upstream_timeout")),
    ],
)
def test_error_statuses_map_per_table(status: int, gstatus: str, expected: Any) -> None:
    err = error_from_gemini(status, google(status, gstatus, "Something."))
    assert (err.status, err.code) == expected


def test_rate_limits_carry_retry_after_from_the_header_or_retry_info() -> None:
    retry_info = [
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "12s"}
    ]
    body = google(429, "RESOURCE_EXHAUSTED", "Quota.", details=retry_info)
    assert error_from_gemini(429, body).retry_after == 12.0
    assert error_from_gemini(429, body, {"retry-after": "7"}).retry_after == 7.0


def test_error_details_overloaded_list_bodies_and_secrets() -> None:
    body = json.dumps(
        [
            {
                "error": {
                    "code": 503,
                    "message": "The model is overloaded.",
                    "status": "UNAVAILABLE",
                }
            }
        ]
    )
    err = error_from_gemini(503, body)
    assert (err.status, err.code) == (503, "upstream_overloaded")
    assert error_from_gemini(502, b"<html>Bad Gateway</html>").status == 502


# -- streaming translation -----------------------------------------------------


def feed_all(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    translator = StreamTranslator()
    chunks = [c for e in events for c in translator.feed(e)]
    return chunks + translator.finish()


def cand(
    parts: list[dict[str, Any]], finish: str | None = None, **kw: Any
) -> dict[str, Any]:
    c: dict[str, Any] = {"content": {"role": "model", "parts": parts}, **kw}
    if finish:
        c["finishReason"] = finish
    return {"candidates": [c]}


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


# -- embeddings and models -----------------------------------------------------


def test_embedding_requests_are_batched_and_text_only() -> None:
    bodies = build_embed_bodies(
        {"input": ["a", "b", "c"], "dimensions": 8},
        "gemini-embedding-001",
        batch_size=2,
    )
    assert bodies == [
        {
            "requests": [
                {
                    "model": "models/gemini-embedding-001",
                    "content": {"parts": [{"text": t}]},
                    "outputDimensionality": 8,
                }
                for t in ("a", "b")
            ]
        },
        {
            "requests": [
                {
                    "model": "models/gemini-embedding-001",
                    "content": {"parts": [{"text": "c"}]},
                    "outputDimensionality": 8,
                }
            ]
        },
    ]
    for bad in ([1, 2, 3], [[1, 2]], "", [], ["ok", ""]):
        with pytest.raises(DriverError) as err:
            build_embed_bodies({"input": bad}, "m")
        assert err.value.status == 400


def test_embeddings_can_be_encoded_as_base64_locally() -> None:
    out = embeddings_result([[0.5, -1.0]], "m", "base64")
    raw = base64.b64decode(out["data"][0]["embedding"])
    assert struct.unpack("<2f", raw) == (0.5, -1.0)
    assert embeddings_result([[0.5]], "m")["data"][0]["embedding"] == [0.5]


def test_models_pages_parse_to_model_infos() -> None:
    page = {
        "models": [
            {
                "name": "models/gemini-2.5-flash",
                "displayName": "Gemini 2.5 Flash",
                "inputTokenLimit": 1048576,
                "supportedGenerationMethods": ["generateContent", "countTokens"],
            },
            {
                "name": "models/text-embedding-004",
                "supportedGenerationMethods": ["embedContent"],
                "inputTokenLimit": 2048,
            },
            {"name": "models/imagen-4", "supportedGenerationMethods": ["predict"]},
        ],
        "nextPageToken": "next",
    }
    models, token = parse_models_page(page)
    assert token == "next"
    assert [(m.model_id, m.name, m.model_type, m.context_window) for m in models] == [
        ("gemini-2.5-flash", "Gemini 2.5 Flash", "inference", 1048576),
        ("text-embedding-004", "text-embedding-004", "embedding", 2048),
    ]


# -- I/O against the fake ------------------------------------------------------


def test_chat_text_against_the_fake() -> None:
    app = fake.make_app()
    out = run(
        app, lambda d: d.chat({"model": "x", "messages": [user("hi there")]}, MODEL)
    )
    assert out["choices"][0]["message"] == {
        "role": "assistant",
        "content": "Hello from gemini: hi there",
    }
    assert out["choices"][0]["finish_reason"] == "stop"
    assert out["usage"]["prompt_tokens"] == 11
    assert out["usage"]["completion_tokens"] == 7
    assert out["usage"]["total_tokens"] == 18
    sent = app["requests"][0]
    assert sent["path"] == f"/v1beta/models/{MODEL}:generateContent"
    assert sent["headers"]["x-goog-api-key"] == fake.API_KEY
    assert "key" not in sent["query"]


def test_multi_turn_with_a_system_prompt_against_the_fake() -> None:
    app = fake.make_app()
    request = {
        "messages": [
            {"role": "system", "content": "Be brief."},
            user("first"),
            {"role": "assistant", "content": "ok"},
            user("second"),
        ],
        "max_completion_tokens": 50,
        "temperature": 0.1,
    }
    out = run(app, lambda d: d.chat(request, "models/" + MODEL))
    assert out["choices"][0]["message"]["content"] == "Hello from gemini: second"
    sent = app["requests"][0]["json"]
    assert sent["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    assert [c["role"] for c in sent["contents"]] == ["user", "model", "user"]
    assert sent["generationConfig"] == {"maxOutputTokens": 50, "temperature": 0.1}


def test_several_candidates_and_length_against_the_fake() -> None:
    out = run(
        fake.make_app(), lambda d: d.chat({"messages": [user("hey")], "n": 2}, MODEL)
    )
    assert [c["index"] for c in out["choices"]] == [0, 1]
    out = run(fake.make_app(), lambda d: d.chat({"messages": [user("LENGTH")]}, MODEL))
    assert out["choices"][0]["finish_reason"] == "length"
    out = run(fake.make_app(), lambda d: d.chat({"messages": [user("BLOCKED")]}, MODEL))
    assert out["choices"][0]["finish_reason"] == "content_filter"


def test_streaming_text_against_the_fake() -> None:
    app = fake.make_app()
    chunks = run(app, lambda d: collect(d, {"messages": [user("stream me")]}))
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    text_chunks = [c for c in chunks[1:] if c["choices"] and c["choices"][0]["delta"]]
    assert len(text_chunks) >= 3
    assert content_of(chunks) == "Hello from gemini: stream me"
    assert finish_of(chunks) == ["stop"]
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["prompt_tokens"] == 11
    assert chunks[-1]["usage"]["completion_tokens"] == 7
    sent = app["requests"][0]
    assert sent["path"].endswith(":streamGenerateContent")
    assert sent["query"] == {"alt": "sse"}


def test_tool_calls_and_the_result_round_trip_with_signatures() -> None:
    app = fake.make_app(require_signatures=True)
    first_request = {"messages": [user("Weather in Paris?")], "tools": [WEATHER]}

    async def scenario(driver: GeminiDriver) -> tuple[Any, Any]:
        first = await driver.chat(first_request, "gemini-3-pro-preview")
        message = first["choices"][0]["message"]
        call = message["tool_calls"][0]
        follow_up = {
            "messages": [
                *first_request["messages"],
                message,
                {
                    "role": "tool",
                    "tool_call_id": call["id"],
                    "content": "18C and sunny",
                },
            ],
            "tools": [WEATHER],
        }
        return first, await driver.chat(follow_up, "gemini-3-pro-preview")

    first, second = run(app, scenario)
    choice = first["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] == "Checking."
    call = choice["message"]["tool_calls"][0]
    assert call["type"] == "function"
    assert call["function"]["name"] == "get_weather"
    assert json.loads(call["function"]["arguments"]) == {"city": "Paris"}
    assert decode_tool_id(call["id"])[1] == fake.SIGNATURE
    assert second["choices"][0]["message"]["content"] == "The tool said: 18C and sunny"
    replayed = app["requests"][1]["json"]["contents"]
    assert replayed[1]["parts"][1]["thoughtSignature"] == fake.SIGNATURE
    assert replayed[2]["parts"][0]["functionResponse"]["name"] == "get_weather"
    assert "additionalProperties" not in json.dumps(app["requests"][0]["json"])


def test_streaming_tool_calls_against_the_fake() -> None:
    request = {
        "messages": [user("Weather?")],
        "tools": [WEATHER],
        "tool_choice": "auto",
    }
    chunks = run(fake.make_app(), lambda d: collect(d, request))
    assert content_of(chunks) == "Checking."
    calls = [
        tc
        for c in chunks
        if c["choices"]
        for tc in c["choices"][0]["delta"].get("tool_calls", [])
    ]
    assert [c.get("id") is not None for c in calls] == [True, False]
    assert calls[0]["function"]["name"] == "get_weather"
    arguments = "".join(c["function"]["arguments"] for c in calls)
    assert json.loads(arguments) == {"city": "Paris"}
    assert finish_of(chunks) == ["tool_calls"]
    assert chunks[-1]["usage"]["total_tokens"] == 18


def errors_for(text: str, stream: bool = False, **options: Any) -> DriverError:
    request = {"messages": [user(text)]}

    async def call(driver: GeminiDriver) -> DriverError:
        try:
            if stream:
                await collect(driver, request)
            else:
                await driver.chat(request, MODEL)
        except DriverError as exc:
            return exc
        raise AssertionError("no error raised")

    return run(fake.make_app(), call, **options)


@pytest.mark.parametrize("stream", [False, True])
def test_upstream_errors_map_per_table(stream: bool) -> None:
    err = errors_for("FAIL 429", stream)
    assert (err.status, err.code, err.retry_after) == (
        429,
        "upstream_rate_limited",
        7.0,
    )
    assert (
        errors_for("FAIL 401", stream).status,
        errors_for("FAIL 401", stream).code,
    ) == (
        502,
        "upstream_auth_error",
    )
    assert errors_for("FAIL 500", stream).status == 502
    err = errors_for("FAIL 503", stream)
    assert (err.status, err.code) == (503, "upstream_overloaded")
    err = errors_for("FAIL 400", stream)
    assert (err.status, err.code) == (400, "upstream_invalid_request")
    assert "invalid argument" in err.message


def test_a_bad_key_is_an_upstream_auth_error_without_the_key() -> None:
    err = errors_for("hi", key="wrong-key-123")
    assert (err.status, err.code) == (502, "upstream_auth_error")
    assert "wrong-key-123" not in err.message
    assert "API key not valid" in err.message


def test_a_slow_upstream_times_out_as_504() -> None:
    tiny = Timeouts(connect=2.0, first_byte=0.2)
    for stream in (False, True):
        err = errors_for("SLOW 1", stream, timeouts=tiny)
        assert (err.status, err.code) == (504, "upstream_timeout")


def test_a_broken_stream_raises_after_the_partial_text() -> None:
    received: list[Any] = []

    async def call(driver: GeminiDriver) -> DriverError:
        try:
            async for chunk in driver.chat_stream({"messages": [user("BREAK")]}, MODEL):
                received.append(chunk)
        except DriverError as exc:
            return exc
        raise AssertionError("stream ended cleanly")

    async def bounded(driver: GeminiDriver) -> DriverError:
        return await asyncio.wait_for(call(driver), 10)

    err = run(fake.make_app(), bounded)
    assert content_of(received) == "Partial answer"
    # The connection drops mid-body: a transport failure, which may pass.
    assert (err.status, err.code, err.transient) == (503, "upstream_unavailable", True)


@pytest.mark.parametrize("text", ["STREAM ERROR", "STREAM ERROR RAW"])
def test_in_stream_errors_raise_the_mapped_error(text: str) -> None:
    err = errors_for(text, stream=True)
    assert (err.status, err.code) == (503, "upstream_overloaded")


def test_closing_the_stream_early_closes_the_upstream() -> None:
    async def call(driver: GeminiDriver) -> Any:
        gen = driver.chat_stream({"messages": [user("hello")]}, MODEL)
        first = await gen.__anext__()
        await gen.aclose()
        return first

    first = run(fake.make_app(), call)
    assert first["choices"][0]["delta"]["role"] == "assistant"


@override_settings(IMAGE_FETCH_ALLOW_LOOPBACK=True)
def test_https_images_are_fetched_and_inlined() -> None:
    png = b"\x89PNG\r\n\x1a\n" + b"0" * 64
    images = web.Application()

    async def picture(request: web.Request) -> web.Response:
        return web.Response(body=png, content_type="image/png")

    async def page(request: web.Request) -> web.Response:
        return web.Response(text="<html>", content_type="text/html")

    images.router.add_get("/cat.png", picture)
    images.router.add_get("/page", page)
    app = fake.make_app()
    with serve(images) as image_server, serve(app) as gemini:

        def ask(path: str) -> dict[str, Any]:
            return {
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {"type": "text", "text": "look"},
                            {
                                "type": "image_url",
                                "image_url": {"url": image_server.url + path},
                            },
                        ],
                    }
                ]
            }

        out = run_on(gemini.url, lambda d: d.chat(ask("/cat.png"), MODEL))
        assert out["choices"][0]["message"]["content"] == "Hello from gemini: look"
        part = app["requests"][0]["json"]["contents"][0]["parts"][1]
        assert part == {
            "inlineData": {
                "mimeType": "image/png",
                "data": base64.b64encode(png).decode(),
            }
        }
        for path, options in (("/page", {}), ("/cat.png", {"max_image_bytes": 10})):

            async def call(driver: GeminiDriver, path: str = path) -> DriverError:
                with pytest.raises(DriverError) as err:
                    await driver.chat(ask(path), MODEL)
                return err.value

            err = run_on(gemini.url, call, **options)
            assert (err.status, err.param) == (
                400,
                "messages[0].content[1].image_url.url",
            )
    assert len(app["requests"]) == 1  # refused images never reached Gemini


def test_embeddings_against_the_fake() -> None:
    app = fake.make_app()
    request = {"model": "e", "input": ["one", "two"]}
    out = run(app, lambda d: d.embed(request, "gemini-embedding-001"))
    assert out["object"] == "list"
    assert [d["index"] for d in out["data"]] == [0, 1]
    assert all(len(d["embedding"]) == 4 for d in out["data"])
    again = run(fake.make_app(), lambda d: d.embed(request, "gemini-embedding-001"))
    assert again["data"] == out["data"]
    encoded = run(
        fake.make_app(),
        lambda d: d.embed(
            {**request, "encoding_format": "base64"}, "gemini-embedding-001"
        ),
    )
    floats = struct.unpack("<4f", base64.b64decode(encoded["data"][0]["embedding"]))
    assert floats == pytest.approx(out["data"][0]["embedding"], rel=1e-6)
    assert app["requests"][0]["path"].endswith(
        "gemini-embedding-001:batchEmbedContents"
    )
    batched = run(
        fake.make_app(),
        lambda d: d.embed(request, "gemini-embedding-001"),
        embed_batch_size=1,
    )
    assert batched["data"] == out["data"]


def test_list_models_follows_pages() -> None:
    app = fake.make_app(page_size=2)
    models = run(app, lambda d: d.list_models())
    assert [(m.model_id, m.model_type) for m in models] == [
        ("gemini-2.5-flash", "inference"),
        ("gemini-2.5-pro", "inference"),
        ("gemini-embedding-001", "embedding"),
        ("gemini-3-pro-preview", "inference"),
    ]
    assert models[0].context_window == 1048576
    assert len(app["requests"]) == 3
    assert app["requests"][0]["query"] == {"pageSize": "1000"}
    assert "pageToken" in app["requests"][1]["query"]


def test_health_check_succeeds_and_fails_with_a_bad_key() -> None:
    app = fake.make_app()
    assert run(app, lambda d: d.health_check()) is None
    assert app["requests"][0]["query"] == {"pageSize": "1"}

    async def check(driver: GeminiDriver) -> DriverError:
        with pytest.raises(DriverError) as err:
            await driver.health_check()
        return err.value

    err = run(fake.make_app(), check, key="bad")
    assert (err.status, err.code, health_of(err)) == (
        502,
        "upstream_auth_error",
        "unavailable",
    )


# -- the fake itself is strict -------------------------------------------------


def test_the_fake_rejects_what_gemini_rejects() -> None:
    url = f"/v1beta/models/{MODEL}:generateContent"
    good = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
    cases = [
        ({**good, "foo": 1}, 'Unknown name "foo": Cannot find field.'),
        (
            {**good, "generationConfig": {"max_tokens": 5}},
            'Unknown name "max_tokens" at',
        ),
        ({"contents": [{"role": "assistant", "parts": [{"text": "x"}]}]}, "valid role"),
        ({"contents": []}, "contents is not specified"),
        (
            {
                "contents": [
                    {
                        "role": "user",
                        "parts": [{"functionResponse": {"name": "f", "response": {}}}],
                    }
                ]
            },
            "number of function response parts",
        ),
        (
            {
                **good,
                "tools": [
                    {
                        "functionDeclarations": [
                            {
                                "name": "f",
                                "parameters": {
                                    "type": "object",
                                    "additionalProperties": False,
                                },
                            }
                        ]
                    }
                ],
            },
            'Unknown name "additionalProperties"',
        ),
    ]
    with serve(fake.make_app()) as server:
        headers = {"x-goog-api-key": fake.API_KEY}
        with httpx.Client(base_url=server.url) as client:
            for body, message in cases:
                resp = client.post(url, json=body, headers=headers)
                assert resp.status_code == 400, body
                error = resp.json()["error"]
                assert error["status"] == "INVALID_ARGUMENT"
                assert message in error["message"]
            resp = client.post(
                url.replace("generateContent", "streamGenerateContent"),
                json=good,
                headers=headers,
            )
            assert resp.status_code == 400
            resp = client.post(url, json=good, headers={"x-goog-api-key": "nope"})
            assert resp.status_code == 400
            assert resp.json()["error"]["details"][0]["reason"] == "API_KEY_INVALID"
            assert client.post(url, json=good).status_code == 403
            assert client.post(url, json=good, headers=headers).status_code == 200


@pytest.mark.parametrize(
    ("field", "value", "rule"),
    [
        ("presence_penalty", 2.0, "from -2 below 2"),
        ("frequency_penalty", 2, "from -2 below 2"),
        ("n", 9, "from 1 to 8"),
    ],
)
def test_values_gemini_cannot_take_are_refused_with_its_range(field, value, rule):
    with pytest.raises(DriverError) as info:
        body_for(messages=[{"role": "user", "content": "x"}], **{field: value})
    assert (info.value.status, info.value.param) == (400, field)
    assert rule in info.value.message


def ref_bomb(levels: int = 24) -> dict[str, Any]:
    """Definitions that each refer to the next twice: 2**levels nodes inlined."""
    defs = {
        f"d{i}": {
            "type": "object",
            "properties": {
                "a": {"$ref": f"#/$defs/d{i + 1}"},
                "b": {"$ref": f"#/$defs/d{i + 1}"},
            },
        }
        for i in range(levels)
    }
    root = {"x": {"$ref": "#/$defs/d0"}}
    return {"type": "object", "properties": root, "$defs": defs}


def test_a_ref_bomb_tool_schema_is_refused_before_it_expands() -> None:
    schema = ref_bomb()
    assert len(json.dumps(schema)) < 2600
    tool = {"type": "function", "function": {"name": "f", "parameters": schema}}
    with pytest.raises(DriverError) as info:
        body_for(messages=[user("x")], tools=[tool])
    assert info.value.status == 400
    assert info.value.param == "tools[0].function.parameters"
    assert info.value.code == "schema_too_large"
