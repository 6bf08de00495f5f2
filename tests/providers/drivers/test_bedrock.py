"""Bedrock driver: translation vectors, and I/O against the SigV4-checking fake."""

from __future__ import annotations

import asyncio
import base64
import json
import struct
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import httpx
import pytest
from aiohttp import web
from botocore.eventstream import EventStreamBuffer
from django.test import override_settings

from providers.drivers.bedrock.discovery import parse_models
from providers.drivers.bedrock.driver import BedrockDriver
from providers.drivers.bedrock.embeddings import embedding_inputs, embeddings_response
from providers.drivers.bedrock.errors import aws_error, parse_error
from providers.drivers.bedrock.response import (
    StreamTranslator,
    decode_event,
    map_stop_reason,
    map_usage,
    parse_converse_response,
)
from providers.drivers.bedrock.signing import model_url, sign_request
from providers.drivers.bedrock.translate import (
    build_converse_body,
    converse_request,
    tool_id,
)
from providers.drivers.config import DriverConfig, Timeouts
from providers.drivers.errors import DriverError
from providers.health import health_of
from providers.http import build_client
from tests.fakes import bedrock as fake
from tests.fakes.server import FakeServer, serve

TOKEN = "FQoGZXIvYXdzEFAKESESSIONTOKEN"
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
TIME = {"type": "function", "function": {"name": "get_time", "parameters": {}}}
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06"
    b"\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01"
    b"\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82"
)


def config(
    url: str = "https://bedrock-runtime.us-east-1.amazonaws.com", **kw: Any
) -> DriverConfig:
    creds = {
        "access_key_id": kw.pop("access_key", fake.ACCESS_KEY),
        "secret_access_key": kw.pop("secret", fake.SECRET_KEY),
    }
    token = kw.pop("token", None)
    if token:
        creds["session_token"] = token
    conf = {"region": "us-east-1", "control_endpoint": url}
    conf.update(kw.pop("extra", {}))
    return DriverConfig(
        "bedrock", url, "aws_sigv4", creds, conf, kw.pop("timeouts", Timeouts())
    )


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


def body_of(request: dict[str, Any], **kw: Any) -> dict[str, Any]:
    return build_converse_body(config(**kw), request)


# -- request translation vectors -----------------------------------------------


def test_it_moves_system_and_developer_messages_to_top_level_system() -> None:
    body = body_of(
        {
            "messages": [
                {"role": "system", "content": "Be terse."},
                {
                    "role": "developer",
                    "content": [{"type": "text", "text": "No puns."}],
                },
                {"role": "system", "content": "   "},
                user("Hi"),
            ],
            "max_completion_tokens": 100,
            "max_tokens": 5,
            "temperature": 1.0,
            "top_p": 0.5,
            "stop": "END",
            "seed": 3,
            "presence_penalty": 1,
            "user": "u1",
        }
    )
    assert body == {
        "messages": [{"role": "user", "content": [{"text": "Hi"}]}],
        "system": [{"text": "Be terse."}, {"text": "No puns."}],
        "inferenceConfig": {
            "maxTokens": 100,
            "temperature": 1.0,
            "topP": 0.5,
            "stopSequences": ["END"],
        },
    }


def test_it_merges_same_role_turns_and_drops_blank_text() -> None:
    body = body_of(
        {
            "messages": [
                user("one"),
                {"role": "user", "content": [{"type": "text", "text": " "}]},
                user("two"),
                {"role": "assistant", "content": "a"},
                {"role": "assistant", "content": ""},
                {"role": "assistant", "content": [{"type": "text", "text": "b"}]},
                user("three"),
            ],
            "stop": ["", "X"],
        }
    )
    assert body["messages"] == [
        {"role": "user", "content": [{"text": "one"}, {"text": "two"}]},
        {"role": "assistant", "content": [{"text": "a"}, {"text": "b"}]},
        {"role": "user", "content": [{"text": "three"}]},
    ]
    assert body["inferenceConfig"] == {"stopSequences": ["X"]}


def test_it_prepends_a_user_turn_and_strips_a_trailing_prefill() -> None:
    body = body_of(
        {"messages": [{"role": "assistant", "content": "Hello. "}, user("Hi")]}
    )
    assert body["messages"][0] == {"role": "user", "content": [{"text": "."}]}
    prefill = body_of(
        {"messages": [user("Hi"), {"role": "assistant", "content": "{ "}]}
    )
    assert prefill["messages"][-1] == {"role": "assistant", "content": [{"text": "{"}]}


def test_a_temperature_above_bedrocks_maximum_is_refused_not_clamped() -> None:
    with pytest.raises(DriverError) as info:
        body_of({"messages": [user("x")], "temperature": 1.7})
    assert (info.value.status, info.value.param) == (400, "temperature")
    assert "Bedrock accepts temperature from 0 to 1" in info.value.message


def test_it_uses_default_max_tokens_only_when_configured() -> None:
    request = {"messages": [user("x")]}
    assert "inferenceConfig" not in body_of(request)
    body = body_of(request, extra={"default_max_tokens": 4096})
    assert body["inferenceConfig"] == {"maxTokens": 4096}


def test_it_inlines_data_url_images_and_fetched_urls() -> None:
    data = base64.b64encode(PNG).decode()
    request = {
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is this?"},
                    {
                        "type": "image_url",
                        "image_url": {"url": f"data:image/png;base64,{data}"},
                    },
                    {"type": "image_url", "image_url": {"url": "https://x.test/a.jpg"}},
                ],
            }
        ]
    }
    body = build_converse_body(
        config(), request, {"https://x.test/a.jpg": ("jpeg", "AAAA")}
    )
    assert body["messages"][0]["content"] == [
        {"text": "What is this?"},
        {"image": {"format": "png", "source": {"bytes": data}}},
        {"image": {"format": "jpeg", "source": {"bytes": "AAAA"}}},
    ]


@pytest.mark.parametrize(
    ("part", "param"),
    [
        (
            {"type": "image_url", "image_url": {"url": "data:image/bmp;base64,AAAA"}},
            "messages[0].content[0].image_url.url",
        ),
        (
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,!!"}},
            "messages[0].content[0].image_url.url",
        ),
        (
            {"type": "input_audio", "input_audio": {"data": "x", "format": "wav"}},
            "messages[0].content[0]",
        ),
    ],
)
def test_it_rejects_unsupported_content(part: dict[str, Any], param: str) -> None:
    with pytest.raises(DriverError) as info:
        body_of({"messages": [{"role": "user", "content": [part]}]})
    assert info.value.status == 400
    assert info.value.param == param


def test_it_translates_tools_and_tool_choice_variants() -> None:
    request: dict[str, Any] = {"messages": [user("x")], "tools": [WEATHER, TIME]}
    tool_config = body_of(request)["toolConfig"]
    assert tool_config == {
        "tools": [
            {
                "toolSpec": {
                    "name": "get_weather",
                    "description": "Weather for a city",
                    "inputSchema": {"json": WEATHER["function"]["parameters"]},
                }
            },
            {
                "toolSpec": {
                    "name": "get_time",
                    "inputSchema": {"json": {"type": "object", "properties": {}}},
                }
            },
        ],
        "toolChoice": {"auto": {}},
    }
    choice = {"type": "function", "function": {"name": "get_time"}}
    assert body_of({**request, "tool_choice": "required"})["toolConfig"][
        "toolChoice"
    ] == {"any": {}}
    assert body_of({**request, "tool_choice": choice})["toolConfig"]["toolChoice"] == {
        "tool": {"name": "get_time"}
    }
    assert "toolConfig" not in body_of({**request, "tool_choice": "none"})


@pytest.mark.parametrize(
    "extra",
    [
        {
            "tools": [WEATHER],
            "tool_choice": {"type": "function", "function": {"name": "nope"}},
        },
        {"tools": [WEATHER], "tool_choice": {"type": "allowed_tools"}},
        {"tool_choice": "required"},
        {"tools": [{"type": "custom", "custom": {"name": "x"}}]},
        {"n": 2},
        {"logprobs": True},
        {"response_format": {"type": "json_object"}},
    ],
)
def test_it_rejects_what_bedrock_cannot_honour(extra: dict[str, Any]) -> None:
    with pytest.raises(DriverError) as info:
        body_of({"messages": [user("x")], **extra})
    assert info.value.status == 400
    assert info.value.type == "invalid_request_error"


def tool_history() -> list[dict[str, Any]]:
    return [
        user("Weather in Paris and the time?"),
        {
            "role": "assistant",
            "content": "Checking.",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {
                        "name": "get_weather",
                        "arguments": '{"city":"Paris"}',
                    },
                },
                {
                    "id": "call 2/ü",
                    "type": "function",
                    "function": {"name": "get_time", "arguments": ""},
                },
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
        {
            "role": "tool",
            "tool_call_id": "call 2/ü",
            "content": [{"type": "text", "text": "noon"}],
        },
        user("Thanks!"),
    ]


def test_it_translates_tool_calls_and_groups_tool_results_before_user_text() -> None:
    body = body_of({"messages": tool_history(), "tools": [WEATHER, TIME]})
    odd = tool_id("call 2/ü")
    assert body["messages"][1] == {
        "role": "assistant",
        "content": [
            {"text": "Checking."},
            {
                "toolUse": {
                    "toolUseId": "call_1",
                    "name": "get_weather",
                    "input": {"city": "Paris"},
                }
            },
            {"toolUse": {"toolUseId": odd, "name": "get_time", "input": {}}},
        ],
    }
    assert body["messages"][2] == {
        "role": "user",
        "content": [
            {"toolResult": {"toolUseId": "call_1", "content": [{"text": "18C"}]}},
            {"toolResult": {"toolUseId": odd, "content": [{"text": "noon"}]}},
            {"text": "Thanks!"},
        ],
    }
    fake.validate_converse(body)


def test_it_flattens_tool_history_when_no_tools_are_sent() -> None:
    for extra in ({}, {"tools": [WEATHER, TIME], "tool_choice": "none"}):
        body = body_of({"messages": tool_history(), **extra})
        assert "toolConfig" not in body
        flat = json.dumps(body["messages"])
        assert "toolUse" not in flat and "toolResult" not in flat
        assert "[Called tool get_weather (id call_1): " in flat
        assert "[Result of tool call call_1]: 18C" in flat
        fake.validate_converse(body)  # the strict fake accepts it


def test_it_rejects_invalid_tool_call_arguments() -> None:
    history = tool_history()
    history[1]["tool_calls"][0]["function"]["arguments"] = "{not json"
    with pytest.raises(DriverError) as info:
        body_of({"messages": history, "tools": [WEATHER]})
    assert info.value.status == 400
    assert info.value.param == "messages[1].tool_calls[0].function.arguments"


def test_tool_ids_are_sanitised_deterministically() -> None:
    assert tool_id("tooluse_AbC-1.2:3") == "tooluse_AbC-1.2:3"
    odd = tool_id("call 2/ü")
    assert odd == tool_id("call 2/ü") != tool_id("call 2/x")
    long = tool_id("x" * 80)
    assert len(long) <= 64 and long == tool_id("x" * 80)
    for value in (odd, long, tool_id("")):
        assert fake.TOOL_USE_ID.match(value)


def test_model_url_keeps_the_id_in_one_path_segment() -> None:
    cfg = config()
    assert model_url(cfg, fake.CHAT_MODEL, "converse").endswith(
        "/model/anthropic.claude-3-haiku-20240307-v1:0/converse"
    )
    arn = "arn:aws:bedrock:us-east-1:1:inference-profile/us.x"
    assert model_url(cfg, arn, "invoke").endswith(
        "/model/arn:aws:bedrock:us-east-1:1:inference-profile%2Fus.x/invoke"
    )


def test_requests_are_signed_with_sigv4_for_bedrock() -> None:
    req = converse_request(
        config(token=TOKEN), {"messages": [user("x")]}, fake.CHAT_MODEL, True
    )
    auth = req.headers["Authorization"]
    assert auth.startswith(f"AWS4-HMAC-SHA256 Credential={fake.ACCESS_KEY}/")
    assert "/us-east-1/bedrock/aws4_request" in auth
    assert "x-amz-security-token" in auth
    assert req.headers["X-Amz-Security-Token"] == TOKEN
    assert req.headers["Accept"] == "application/vnd.amazon.eventstream"
    assert json.loads(req.content or b"") == {
        "messages": [{"role": "user", "content": [{"text": "x"}]}]
    }
    assert fake.SECRET_KEY not in json.dumps(req.headers)


# -- response translation vectors ----------------------------------------------


def test_it_parses_text_and_tool_calls() -> None:
    data = {
        "output": {
            "message": {
                "role": "assistant",
                "content": [
                    {"reasoningContent": {"reasoningText": {"text": "hmm"}}},
                    {"text": "Checking."},
                    {
                        "toolUse": {
                            "toolUseId": "t1",
                            "name": "get_weather",
                            "input": {"city": "Paris"},
                        }
                    },
                ],
            }
        },
        "stopReason": "tool_use",
        "usage": {"inputTokens": 30, "outputTokens": 12, "totalTokens": 42},
    }
    out = parse_converse_response(data, "m", "req-1")
    assert out["id"] == "chatcmpl-req-1"
    choice = out["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] == "Checking."
    assert choice["message"]["reasoning_content"] == "hmm"
    call = choice["message"]["tool_calls"][0]
    assert call["id"] == "t1" and call["type"] == "function"
    assert json.loads(call["function"]["arguments"]) == {"city": "Paris"}
    assert out["usage"]["total_tokens"] == 42
    only_tool = {
        "output": {"message": {"content": data["output"]["message"]["content"][2:]}}
    }
    assert (
        parse_converse_response(only_tool, "m")["choices"][0]["message"]["content"]
        is None
    )


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("model_context_window_exceeded", "length"),
        ("tool_use", "tool_calls"),
        ("guardrail_intervened", "content_filter"),
        ("content_filtered", "content_filter"),
        ("malformed_model_output", "stop"),
        ("malformed_tool_use", "stop"),
        ("something_new", "stop"),
        (None, "stop"),
    ],
)
def test_stop_reasons_map_to_finish_reasons(reason: str | None, expected: str) -> None:
    assert map_stop_reason(reason) == expected


def test_usage_counts_cache_reads_and_writes_as_prompt_tokens() -> None:
    usage = map_usage(
        {
            "inputTokens": 10,
            "outputTokens": 4,
            "totalTokens": 14,
            "cacheReadInputTokens": 100,
            "cacheWriteInputTokens": 20,
        }
    )
    assert usage == {
        "prompt_tokens": 130,
        "completion_tokens": 4,
        "total_tokens": 134,
        "prompt_tokens_details": {"cached_tokens": 100},
        "cache_creation_tokens": 20,
    }


@pytest.mark.parametrize(
    ("status", "code", "expected_status", "expected_code"),
    [
        (400, "ValidationException", 400, "upstream_invalid_request"),
        (403, "AccessDeniedException", 502, "upstream_auth_error"),
        (403, "UnrecognizedClientException", 502, "upstream_auth_error"),
        (403, "InvalidSignatureException", 502, "upstream_auth_error"),
        (403, "ExpiredTokenException", 502, "upstream_auth_error"),
        (404, "ResourceNotFoundException", 502, "upstream_model_not_found"),
        (429, "ThrottlingException", 429, "upstream_rate_limited"),
        (400, "ServiceQuotaExceededException", 429, "upstream_rate_limited"),
        (408, "ModelTimeoutException", 504, "upstream_timeout"),
        (503, "ServiceUnavailableException", 503, "upstream_unavailable"),
        (429, "ModelNotReadyException", 503, "upstream_unavailable"),
        (424, "ModelErrorException", 502, "upstream_error"),
        (500, "InternalServerException", 502, "upstream_error"),
        (502, "SomethingElse", 502, "upstream_error"),
    ],
)
def test_aws_errors_map_to_gateway_errors(
    status: int, code: str, expected_status: int, expected_code: str
) -> None:
    headers = {"x-amzn-ErrorType": f"{code}:http://internal.amazon.com/coral/x/"}
    err = parse_error(status, b'{"message":"Boom here."}', headers)
    assert (err.status, err.code) == (expected_status, expected_code)
    assert "Boom here." in err.message
    if expected_code == "upstream_auth_error":
        assert err.permanent


def test_error_shapes_message_capitalised_and_type_in_body() -> None:
    err = parse_error(
        400,
        b'{"__type":"com.amazon.coral.validate#ValidationException","Message":"Bad."}',
        {},
    )
    assert err.status == 400 and err.message.endswith("Bad.")
    throttled = aws_error("ThrottlingException", "slow down", 429, {"retry-after": "7"})
    assert throttled.retry_after == 7.0 and throttled.transient
    missing = parse_error(
        404,
        b'{"message":"The provided model identifier is invalid."}',
        {"x-amzn-ErrorType": "ResourceNotFoundException:"},
    )
    assert "not enabled in this region" in missing.message


# -- stream translation vectors ------------------------------------------------


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


def test_event_stream_frames_decode_and_exceptions_raise() -> None:
    buffer = EventStreamBuffer()
    buffer.add_data(fake.event("messageStop", {"stopReason": "max_tokens"}))
    buffer.add_data(fake.exception_frame("throttlingException", "Too many tokens"))
    first, second = list(buffer)
    assert decode_event(first.headers, first.payload)[0] == "messageStop"
    assert decode_event(first.headers, first.payload)[1]["stopReason"] == "max_tokens"
    with pytest.raises(DriverError) as info:
        decode_event(second.headers, second.payload)
    assert info.value.status == 429 and "Too many tokens" in info.value.message
    with pytest.raises(DriverError) as info:
        decode_event(
            {
                ":message-type": "error",
                ":error-code": "InternalFailure",
                ":error-message": "x",
            },
            b"",
        )
    assert info.value.status == 502


# -- embeddings and discovery vectors ------------------------------------------


def test_embedding_inputs_reject_token_arrays_and_empty_strings() -> None:
    assert embedding_inputs({"input": "a"}) == ["a"]
    for bad in ([1, 2, 3], [[1, 2]], [""], []):
        with pytest.raises(DriverError) as info:
            embedding_inputs({"input": bad})
        assert info.value.status == 400


def test_embeddings_can_be_base64_encoded_locally() -> None:
    out = embeddings_response([[0.5, -1.0]], 3, "m", "base64")
    raw = base64.b64decode(out["data"][0]["embedding"])
    assert struct.unpack("<2f", raw) == (0.5, -1.0)
    assert out["usage"] == {"prompt_tokens": 3, "total_tokens": 3}


def test_parse_models_lists_on_demand_models_and_profiles() -> None:
    foundation = [
        {
            "modelId": "a.text-v1",
            "modelName": "A",
            "outputModalities": ["TEXT"],
            "inferenceTypesSupported": ["ON_DEMAND"],
        },
        {
            "modelId": "a.big-v2",
            "modelName": "Big",
            "outputModalities": ["TEXT"],
            "inferenceTypesSupported": ["INFERENCE_PROFILE"],
        },
        {
            "modelId": "e.embed",
            "modelName": "E",
            "outputModalities": ["EMBEDDING"],
            "inferenceTypesSupported": ["ON_DEMAND"],
        },
        {
            "modelId": "s.image",
            "outputModalities": ["IMAGE"],
            "inferenceTypesSupported": ["ON_DEMAND"],
        },
    ]
    profiles = [
        {
            "inferenceProfileId": "us.a.big-v2",
            "inferenceProfileName": "US Big",
            "status": "ACTIVE",
            "models": [
                {"modelArn": "arn:aws:bedrock:us-east-1::foundation-model/a.big-v2"}
            ],
        },
        {
            "inferenceProfileId": "us.e.embed",
            "inferenceProfileName": "US E",
            "status": "ACTIVE",
            "models": [
                {"modelArn": "arn:aws:bedrock:us-east-1::foundation-model/e.embed"}
            ],
        },
        {
            "inferenceProfileId": "us.s.image",
            "status": "ACTIVE",
            "models": [{"modelArn": "arn:x/s.image"}],
        },
    ]
    models = parse_models(foundation, profiles)
    assert [(m.model_id, m.model_type) for m in models] == [
        ("a.text-v1", "inference"),
        ("e.embed", "embedding"),
        ("us.a.big-v2", "inference"),
        ("us.e.embed", "embedding"),
    ]


# -- the fake rejects what Bedrock rejects -------------------------------------


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (
            {"messages": [{"role": "assistant", "content": [{"text": "x"}]}]},
            "start with a user",
        ),
        (
            {
                "messages": [
                    {"role": "user", "content": [{"text": "a"}]},
                    {"role": "user", "content": [{"text": "b"}]},
                ]
            },
            "alternate",
        ),
        ({"messages": [{"role": "user", "content": [{"text": "  "}]}]}, "blank"),
        (
            {
                "messages": [{"role": "user", "content": [{"text": "a"}]}],
                "modelId": "x",
            },
            "Unknown field",
        ),
        (
            {
                "messages": [
                    {"role": "user", "content": [{"text": "a"}]},
                    {
                        "role": "assistant",
                        "content": [
                            {"toolUse": {"toolUseId": "t", "name": "f", "input": {}}}
                        ],
                    },
                    {
                        "role": "user",
                        "content": [
                            {
                                "toolResult": {
                                    "toolUseId": "t",
                                    "content": [{"text": "r"}],
                                }
                            }
                        ],
                    },
                ]
            },
            "toolConfig field must be defined",
        ),
    ],
)
def test_the_fake_validates_converse_bodies(body: dict[str, Any], needle: str) -> None:
    with pytest.raises(fake.Reject) as info:
        fake.validate_converse(body)
    assert needle in info.value.message


# -- I/O against the fake ------------------------------------------------------


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with serve(fake.make_app(session_token=TOKEN)) as srv:
        yield srv


def run(
    cfg: DriverConfig, fn: Callable[[BedrockDriver, httpx.AsyncClient], Awaitable[Any]]
) -> Any:
    async def main() -> Any:
        async with build_client() as client:
            return await fn(BedrockDriver(cfg, client), client)

    return asyncio.run(main())


def chat(
    cfg: DriverConfig, request: dict[str, Any], model: str = fake.CHAT_MODEL
) -> Any:
    return run(cfg, lambda d, _: d.chat(request, model))


def stream(
    cfg: DriverConfig, request: dict[str, Any], model: str = fake.CHAT_MODEL
) -> list[dict[str, Any]]:
    async def collect(
        driver: BedrockDriver, _: httpx.AsyncClient
    ) -> list[dict[str, Any]]:
        return [chunk async for chunk in driver.chat_stream(request, model)]

    return run(cfg, collect)  # type: ignore[no-any-return]


def error_of(fn: Callable[[], Any]) -> DriverError:
    with pytest.raises(DriverError) as info:
        fn()
    return info.value


def text_of(chunks: list[dict[str, Any]]) -> str:
    return "".join(
        c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"]
    )


@pytest.mark.parametrize("transport", ["aiohttp", "httpx"])
def test_it_chats_with_a_signed_request_on_both_transports(
    server: FakeServer, transport: str
) -> None:
    with override_settings(PROVIDERS_HTTP_TRANSPORT=transport):
        out = chat(config(server.url, token=TOKEN), {"messages": [user("Hi")]})
    assert out["choices"][0]["message"] == {
        "role": "assistant",
        "content": "Hello from Bedrock: Hi",
    }
    assert out["choices"][0]["finish_reason"] == "stop"
    assert (
        out["usage"]["prompt_tokens"] == 11 and out["usage"]["completion_tokens"] == 7
    )
    assert out["id"] == "chatcmpl-req-fake-0001"
    seen = server.app["requests"][-1]
    assert seen["headers"]["x-amz-security-token"] == TOKEN


def test_the_fake_rejects_a_path_that_differs_from_the_signed_one(
    server: FakeServer,
) -> None:
    # Signed with %3A, but the aiohttp transport puts ':' on the wire: AWS would
    # compute a different canonical URI, and so does the fake.
    cfg = config(server.url, token=TOKEN)
    url = f"{server.url}/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse"
    body = json.dumps(
        {"messages": [{"role": "user", "content": [{"text": "x"}]}]}
    ).encode()
    req = sign_request(cfg, "POST", url, body)

    async def send(_: BedrockDriver, client: httpx.AsyncClient) -> httpx.Response:
        return await client.post(req.url, headers=req.headers, content=body)

    with override_settings(PROVIDERS_HTTP_TRANSPORT="aiohttp"):
        response = run(cfg, send)
    assert response.status_code == 403
    assert response.headers["x-amzn-ErrorType"].startswith("InvalidSignatureException")
    with override_settings(PROVIDERS_HTTP_TRANSPORT="httpx"):
        assert run(cfg, send).status_code == 200


def test_the_fake_rejects_unsigned_and_tampered_requests(server: FakeServer) -> None:
    cfg = config(server.url, token=TOKEN)
    req = converse_request(cfg, {"messages": [user("x")]}, fake.CHAT_MODEL, False)

    async def send(_: BedrockDriver, client: httpx.AsyncClient) -> list[httpx.Response]:
        unsigned = await client.post(req.url, json={"messages": []})
        tampered = await client.post(
            req.url, headers=req.headers, content=(req.content or b"") + b" "
        )
        return [unsigned, tampered]

    unsigned, tampered = run(cfg, send)
    assert unsigned.status_code == 403
    assert tampered.status_code == 403
    assert "signature we calculated does not match" in tampered.json()["message"]


def test_it_sends_system_prompt_and_multi_turn_history(server: FakeServer) -> None:
    request = {
        "messages": [
            {"role": "system", "content": "Be terse."},
            user("One"),
            {"role": "assistant", "content": "Two"},
            user("Three"),
        ],
        "max_tokens": 50,
    }
    out = chat(config(server.url, token=TOKEN), request)
    assert out["choices"][0]["message"]["content"] == "Hello from Bedrock: Three"
    sent = server.app["requests"][-1]["json"]
    assert sent["system"] == [{"text": "Be terse."}]
    assert [m["role"] for m in sent["messages"]] == ["user", "assistant", "user"]
    assert sent["inferenceConfig"] == {"maxTokens": 50}


def test_it_streams_text(server: FakeServer) -> None:
    chunks = stream(config(server.url, token=TOKEN), {"messages": [user("Hi there")]})
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert text_of(chunks) == "Hello from Bedrock: Hi there"
    assert (
        len(
            [
                c
                for c in chunks
                if c["choices"] and c["choices"][0]["delta"].get("content")
            ]
        )
        >= 3
    )
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["total_tokens"] == 18


def test_it_streams_length_finish_and_cache_usage() -> None:
    with serve(fake.make_app(cache_tokens=True)) as srv:
        chunks = stream(config(srv.url), {"messages": [user("LENGTH")]})
        out = chat(config(srv.url), {"messages": [user("x")]})
    assert chunks[-2]["choices"][0]["finish_reason"] == "length"
    assert chunks[-1]["usage"]["prompt_tokens"] == 19
    assert chunks[-1]["usage"]["prompt_tokens_details"] == {"cached_tokens": 5}
    assert out["usage"]["prompt_tokens"] == 19


def test_it_calls_tools(server: FakeServer) -> None:
    out = chat(
        config(server.url, token=TOKEN),
        {"messages": [user("Weather?")], "tools": [WEATHER]},
    )
    choice = out["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] == "Checking."
    call = choice["message"]["tool_calls"][0]
    assert call["function"]["name"] == "get_weather"
    assert json.loads(call["function"]["arguments"]) == {"city": "Paris"}


def test_it_streams_tool_calls(server: FakeServer) -> None:
    chunks = stream(
        config(server.url, token=TOKEN),
        {"messages": [user("Weather?")], "tools": [WEATHER]},
    )
    calls = [
        c["choices"][0]["delta"]["tool_calls"][0]
        for c in chunks
        if c["choices"] and "tool_calls" in c["choices"][0]["delta"]
    ]
    assert calls[0]["id"] == "tooluse_fake01" and calls[0]["index"] == 0
    assert calls[0]["function"]["name"] == "get_weather"
    arguments = "".join(c["function"]["arguments"] for c in calls)
    assert json.loads(arguments) == {"city": "Paris"}
    assert len(calls) >= 3
    assert text_of(chunks) == "Checking."
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"


def test_it_round_trips_a_tool_result(server: FakeServer) -> None:
    cfg = config(server.url, token=TOKEN)
    first = chat(cfg, {"messages": [user("Weather?")], "tools": [WEATHER]})
    message = first["choices"][0]["message"]
    call = message["tool_calls"][0]
    request = {
        "messages": [
            user("Weather?"),
            message,
            {"role": "tool", "tool_call_id": call["id"], "content": "18C and sunny"},
        ],
        "tools": [WEATHER],
    }
    out = chat(cfg, request)
    assert out["choices"][0]["message"]["content"] == "The tool said: 18C and sunny"
    stream_out = stream(cfg, request)
    assert text_of(stream_out) == "The tool said: 18C and sunny"


def test_it_sends_tool_history_without_tools(server: FakeServer) -> None:
    out = chat(config(server.url, token=TOKEN), {"messages": tool_history()})
    content = out["choices"][0]["message"]["content"]
    assert content.startswith("Hello from Bedrock: [Result of tool call call_1]: 18C")
    assert content.endswith("Thanks!")
    assert "toolConfig" not in server.app["requests"][-1]["json"]


@override_settings(IMAGE_FETCH_ALLOW_LOOPBACK=True)
def test_it_fetches_and_inlines_image_urls(server: FakeServer) -> None:
    images = web.Application()

    async def png(request: web.Request) -> web.Response:
        return web.Response(body=PNG, content_type="application/octet-stream")

    images.router.add_get("/cat.png", png)
    with serve(images) as host:
        request = {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "Describe"},
                        {
                            "type": "image_url",
                            "image_url": {"url": f"{host.url}/cat.png"},
                        },
                    ],
                }
            ]
        }
        chat(config(server.url, token=TOKEN), request)
        missing = request["messages"][0]["content"][1]["image_url"]
        missing["url"] = f"{host.url}/nope.png"
        err = error_of(lambda: chat(config(server.url, token=TOKEN), request))
    sent = server.app["requests"][-1]["json"]["messages"][0]["content"][1]
    assert sent == {
        "image": {"format": "png", "source": {"bytes": base64.b64encode(PNG).decode()}}
    }
    assert err.status == 400


@pytest.mark.parametrize(
    ("text", "status", "code"),
    [
        ("FAIL 429", 429, "upstream_rate_limited"),
        ("FAIL 401", 502, "upstream_auth_error"),
        ("FAIL 403", 502, "upstream_auth_error"),
        ("FAIL 400", 400, "upstream_invalid_request"),
        ("FAIL 500", 502, "upstream_error"),
        ("FAIL 503", 503, "upstream_unavailable"),
        ("FAIL 424", 502, "upstream_error"),
        ("FAIL 408", 504, "upstream_timeout"),
    ],
)
def test_it_maps_upstream_errors(
    server: FakeServer, text: str, status: int, code: str
) -> None:
    cfg = config(server.url, token=TOKEN)
    for call in (
        lambda: chat(cfg, {"messages": [user(text)]}),
        lambda: stream(cfg, {"messages": [user(text)]}),
    ):
        err = error_of(call)
        assert (err.status, err.code) == (status, code)
        if status == 429:
            assert err.retry_after == 7.0


def test_it_reports_unknown_models_and_rejected_credentials(server: FakeServer) -> None:
    err = error_of(
        lambda: chat(
            config(server.url, token=TOKEN),
            {"messages": [user("x")]},
            "nope.model-v1:0",
        )
    )
    assert (err.status, err.code) == (502, "upstream_model_not_found")
    for cfg in (
        config(server.url, secret="wrong-secret-value", token=TOKEN),
        config(server.url, access_key="AKIDUNKNOWN000000000", token=TOKEN),
        config(server.url),  # the session token is missing
    ):
        err = error_of(lambda cfg=cfg: chat(cfg, {"messages": [user("x")]}))
        assert (err.status, err.code, err.permanent) == (
            502,
            "upstream_auth_error",
            True,
        )
        assert (
            "wrong-secret-value" not in err.message
            and fake.SECRET_KEY not in err.message
        )


def test_it_times_out_waiting_for_the_first_byte(server: FakeServer) -> None:
    cfg = config(server.url, token=TOKEN, timeouts=Timeouts(first_byte=0.2))
    for call in (
        lambda: chat(cfg, {"messages": [user("SLOW 1")]}),
        lambda: stream(cfg, {"messages": [user("SLOW 1")]}),
    ):
        err = error_of(call)
        assert (err.status, err.code) == (504, "upstream_timeout")


def test_a_broken_stream_raises_instead_of_hanging(server: FakeServer) -> None:
    cfg = config(server.url, token=TOKEN, timeouts=Timeouts(first_byte=5))
    received: list[dict[str, Any]] = []

    async def collect(driver: BedrockDriver, _: httpx.AsyncClient) -> None:
        async for chunk in driver.chat_stream(
            {"messages": [user("BREAK")]}, fake.CHAT_MODEL
        ):
            received.append(chunk)

    err = error_of(lambda: run(cfg, collect))
    assert err.status in (502, 503)
    assert text_of(received) == "Hello from "


def test_an_in_stream_exception_raises_a_driver_error(server: FakeServer) -> None:
    err = error_of(
        lambda: stream(
            config(server.url, token=TOKEN), {"messages": [user("STREAM ERROR")]}
        )
    )
    assert (err.status, err.code) == (502, "upstream_error")
    assert "simulated" in err.message


def test_it_embeds_with_titan_and_cohere(server: FakeServer) -> None:
    cfg = config(server.url, token=TOKEN)
    titan = run(
        cfg,
        lambda d, _: d.embed(
            {"input": ["one", "two words"], "dimensions": 256}, fake.TITAN_EMBED
        ),
    )
    assert [row["index"] for row in titan["data"]] == [0, 1]
    assert all(len(row["embedding"]) == 4 for row in titan["data"])
    assert titan["usage"]["prompt_tokens"] == 3
    sent = [r["json"] for r in server.app["requests"] if r["path"].endswith("/invoke")]
    assert sorted(s["inputText"] for s in sent) == ["one", "two words"]
    assert all(s["normalize"] is True and s["dimensions"] == 256 for s in sent)
    cohere = run(cfg, lambda d, _: d.embed({"input": "one"}, fake.COHERE_EMBED))
    assert cohere["data"][0]["embedding"] == titan["data"][0]["embedding"]
    err = error_of(
        lambda: run(cfg, lambda d, _: d.embed({"input": [[1, 2]]}, fake.TITAN_EMBED))
    )
    assert err.status == 400


def test_it_lists_models_through_the_control_plane(server: FakeServer) -> None:
    models = run(config(server.url, token=TOKEN), lambda d, _: d.list_models())
    assert {(m.model_id, m.model_type) for m in models} == {
        (fake.CHAT_MODEL, "inference"),
        (fake.TITAN_EMBED, "embedding"),
        (f"us.{fake.PROFILE_ONLY_MODEL}", "inference"),
        (f"us.{fake.CHAT_MODEL}", "inference"),
    }
    paths = [r["path"] for r in server.app["requests"]]
    assert paths.count("/inference-profiles") == 2  # followed nextToken
    assert all("x-amz-security-token" in r["headers"] for r in server.app["requests"])


def test_health_check_succeeds_and_fails_with_a_bad_key(server: FakeServer) -> None:
    run(config(server.url, token=TOKEN), lambda d, _: d.health_check())
    err = error_of(
        lambda: run(
            config(server.url, secret="bad-secret-abc", token=TOKEN),
            lambda d, _: d.health_check(),
        )
    )
    assert (err.status, err.code, health_of(err)) == (
        502,
        "upstream_auth_error",
        "unavailable",
    )
    assert "bad-secret-abc" not in err.message


def test_health_check_reports_an_unreachable_control_plane() -> None:
    cfg = config("http://127.0.0.1:9", timeouts=Timeouts(connect=0.5, first_byte=0.5))
    err = error_of(lambda: run(cfg, lambda d, _: d.health_check()))
    assert err.status == 503 and err.code == "upstream_unavailable" and err.transient
