"""OpenAI driver: pure translation vectors, then I/O against the fake over loopback."""

from __future__ import annotations

import asyncio
import base64
import json
import struct
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from providers.drivers import driver_class
from providers.drivers.canonical import floats_to_base64
from providers.drivers.config import DriverConfig, Timeouts
from providers.drivers.errors import DriverError
from providers.drivers.openai.discovery import classify_model, parse_models
from providers.drivers.openai.driver import OpenAIDriver
from providers.drivers.openai.errors import error_from_stream_event, openai_error
from providers.drivers.openai.response import (
    OpenAIStreamTranslator,
    completion_to_chunks,
    normalize_finish_reason,
    normalize_usage,
    parse_chat_response,
    parse_embeddings_response,
)
from providers.drivers.openai.translate import (
    build_chat_body,
    build_embeddings_body,
    is_reasoning_model,
)
from providers.health import health_of
from providers.http import build_client
from tests.fakes import openai as fake
from tests.fakes.server import serve

KEY = "sk-test-key"
TOOLS = [
    {
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
]


def cfg(
    base_url: str = "https://api.openai.com/v1",
    *,
    provider_type: str = "openai",
    api_key: str = KEY,
    timeouts: Timeouts | None = None,
    **config: Any,
) -> DriverConfig:
    return DriverConfig(
        provider_type=provider_type,
        base_url=base_url,
        auth_method="bearer",
        credentials={"api_key": api_key},
        config=config,
        timeouts=timeouts or Timeouts(connect=2, first_byte=10, total=30),
    )


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


def run(fn: Callable[[httpx.AsyncClient], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        client = build_client()
        try:
            return await fn(client)
        finally:
            await client.aclose()

    return asyncio.run(main())


def feed_all(events: list[dict[str, Any]], **kw: Any) -> list[dict[str, Any]]:
    translator = OpenAIStreamTranslator(**kw)
    out = []
    for event in events:
        out += translator.feed(event)
    return out + translator.finish()


def text_of(chunks: list[dict[str, Any]], index: int = 0) -> str:
    return "".join(
        c["choices"][0]["delta"].get("content") or ""
        for c in chunks
        if c["choices"] and c["choices"][0]["index"] == index
    )


def tool_calls_of(chunks: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """Accumulate tool-call deltas the way the OpenAI SDK does (concatenating)."""
    calls: dict[int, dict[str, Any]] = {}
    for chunk in chunks:
        for choice in chunk["choices"]:
            for call in choice["delta"].get("tool_calls") or []:
                acc = calls.setdefault(
                    call["index"], {"id": "", "type": "", "name": "", "arguments": ""}
                )
                acc["id"] += call.get("id", "")
                acc["type"] += call.get("type", "")
                acc["name"] += call.get("function", {}).get("name", "")
                acc["arguments"] += call.get("function", {}).get("arguments", "")
    return calls


def finishes(chunks: list[dict[str, Any]]) -> list[str]:
    return [
        c["choices"][0]["finish_reason"]
        for c in chunks
        if c["choices"] and c["choices"][0]["finish_reason"]
    ]


def env(choices: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    """An upstream chunk with OpenAI's envelope."""
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1760000000,
        "model": "gpt-4o-mini",
        "system_fingerprint": "fp_x",
        "choices": choices,
        **extra,
    }


def ch(delta: dict[str, Any] | None, finish: str | None = None, index: int = 0):
    choice: dict[str, Any] = {"index": index, "finish_reason": finish}
    if delta is not None:
        choice["delta"] = delta
    return choice


# -- request building -------------------------------------------------------------


def test_request_passes_everything_through_with_vendor_model() -> None:
    request = {
        "model": "gateway-name",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "developer", "content": [{"type": "text", "text": "Use JSON."}]},
            user("hi"),
            {"role": "assistant", "content": "Hello!"},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is this?"},
                    {
                        "type": "image_url",
                        "image_url": {"url": "data:image/png;base64,AAAA"},
                    },
                ],
            },
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        # Invalid JSON is the vendor's business: passed unchanged.
                        "function": {"name": "get_weather", "arguments": "{bad"},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
        ],
        "tools": TOOLS,
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        "parallel_tool_calls": False,
        "temperature": 0.2,
        "max_tokens": 50,
        "some_future_field": {"x": 1},
    }
    body = build_chat_body(cfg(), request, "gpt-4o-mini", stream=False)
    assert body == {**request, "model": "gpt-4o-mini"}
    assert request["model"] == "gateway-name"  # the caller's dict is untouched


@pytest.mark.parametrize("tool_choice", ["none", "auto", "required"])
def test_tool_choice_strings_pass_through(tool_choice: str) -> None:
    request = {"messages": [user("x")], "tools": TOOLS, "tool_choice": tool_choice}
    body = build_chat_body(cfg(), request, "gpt-4o", stream=False)
    assert body["tool_choice"] == tool_choice


def test_stream_options_always_ask_for_usage_and_keep_the_callers() -> None:
    request = {
        "messages": [user("x")],
        "stream": True,
        "stream_options": {"include_obfuscation": False},
    }
    body = build_chat_body(cfg(), request, "gpt-4o", stream=True)
    assert body["stream"] is True
    assert body["stream_options"] == {
        "include_obfuscation": False,
        "include_usage": True,
    }
    plain = build_chat_body(cfg(), {"messages": []}, "gpt-4o", stream=True)
    assert plain["stream_options"] == {"include_usage": True}


def test_non_streaming_sends_no_stream_fields() -> None:
    request = {"messages": [user("x")], "stream": True, "stream_options": {}}
    body = build_chat_body(cfg(), request, "gpt-4o", stream=False)
    assert "stream" not in body and "stream_options" not in body


def test_stream_usage_flag_off_sends_no_stream_options() -> None:
    request = {"messages": [user("x")], "stream_options": {"include_usage": True}}
    body = build_chat_body(cfg(stream_usage=False), request, "m", stream=True)
    assert body["stream"] is True and "stream_options" not in body


def test_drop_params_removes_fields_a_preset_rejects() -> None:
    request = {"messages": [user("x")], "user": "u1", "seed": 3}
    body = build_chat_body(cfg(drop_params=["user"]), request, "m", stream=False)
    assert "user" not in body and body["seed"] == 3


@pytest.mark.parametrize(
    ("model_id", "reasoning"),
    [
        ("o1", True),
        ("o1-mini", True),
        ("o3-mini", True),
        ("o4-mini", True),
        ("gpt-5", True),
        ("gpt-5-mini", True),
        ("openai/o3", True),
        ("gpt-4o", False),
        ("gpt-4.1", False),
        ("llama-3.1-8b", False),
    ],
)
def test_reasoning_models(model_id: str, reasoning: bool) -> None:
    assert is_reasoning_model(model_id) is reasoning
    body = build_chat_body(cfg(), {"max_tokens": 10}, model_id, stream=False)
    if reasoning:
        assert body == {"model": model_id, "max_completion_tokens": 10}
    else:
        assert body == {"model": model_id, "max_tokens": 10}


def test_reasoning_model_keeps_callers_max_completion_tokens() -> None:
    request = {"max_tokens": 10, "max_completion_tokens": 99}
    body = build_chat_body(cfg(), request, "o3-mini", stream=False)
    assert body == {"model": "o3-mini", "max_completion_tokens": 99}


# -- responses ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("upstream", "canonical"),
    [
        ("stop", "stop"),
        ("length", "length"),
        ("tool_calls", "tool_calls"),
        ("content_filter", "content_filter"),
        ("function_call", "function_call"),
        ("error", "stop"),
        ("eos", "stop"),
        ("max_tokens", "length"),
        ("tool_use", "tool_calls"),
        ("something_new", "stop"),
        (None, "stop"),
    ],
)
def test_finish_reason_mapping(upstream: Any, canonical: str) -> None:
    assert normalize_finish_reason(upstream) == canonical


def completion_body(**over: Any) -> dict[str, Any]:
    body = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hi", "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": 11,
            "completion_tokens": 7,
            "total_tokens": 18,
            "prompt_tokens_details": {"cached_tokens": 4},
            "completion_tokens_details": {"reasoning_tokens": 2},
        },
        "service_tier": "default",
        "system_fingerprint": "fp_1",
    }
    body.update(over)
    return body


def test_response_is_returned_as_is() -> None:
    body = completion_body()
    assert parse_chat_response(body) == body


def test_response_normalises_finish_and_usage() -> None:
    body = completion_body(usage={"prompt_tokens": 5, "completion_tokens": 3})
    body["choices"][0]["finish_reason"] = "eos"
    out = parse_chat_response(body)
    assert out["choices"][0]["finish_reason"] == "stop"
    assert out["usage"] == {
        "prompt_tokens": 5,
        "completion_tokens": 3,
        "total_tokens": 8,
    }


def test_usage_mapping_keeps_cache_and_reasoning_details() -> None:
    usage = normalize_usage(
        {
            "prompt_tokens": 100,
            "completion_tokens": 20,
            "prompt_tokens_details": {"cached_tokens": 80},
            "completion_tokens_details": {"reasoning_tokens": 12},
            "prompt_cache_hit_tokens": 80,  # DeepSeek's extra field
        }
    )
    assert usage["total_tokens"] == 120
    assert usage["prompt_tokens_details"] == {"cached_tokens": 80}
    assert usage["completion_tokens_details"] == {"reasoning_tokens": 12}
    assert usage["prompt_cache_hit_tokens"] == 80
    assert normalize_usage({"input_tokens": 3, "output_tokens": 4})["total_tokens"] == 7


def test_response_with_tool_calls_passes_through() -> None:
    message = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
            }
        ],
    }
    body = completion_body()
    body["choices"][0].update(message=message, finish_reason="tool_calls")
    assert parse_chat_response(body)["choices"][0]["message"] == message


def test_error_inside_a_200_body_raises() -> None:
    with pytest.raises(DriverError) as info:
        parse_chat_response({"error": {"message": "upstream broke", "code": 502}})
    assert info.value.status == 502 and "upstream broke" in info.value.message
    with pytest.raises(DriverError):
        parse_chat_response({"object": "chat.completion"})
    with pytest.raises(DriverError):
        parse_chat_response(["not", "a", "dict"])


# -- stream translation ---------------------------------------------------------


def test_stream_openai_text_sequence() -> None:
    events = [
        env([ch({"role": "assistant", "content": "", "refusal": None})], usage=None),
        env([ch({"content": "Hel"})], usage=None),
        env([ch({"content": "lo"})], usage=None),
        env([ch({}, "stop")], usage=None),
        env(
            [], usage={"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}
        ),
    ]
    out = feed_all(events)
    assert out == [
        {
            "choices": [
                {
                    "index": 0,
                    "delta": {"role": "assistant", "content": ""},
                    "finish_reason": None,
                }
            ]
        },
        {"choices": [{"index": 0, "delta": {"content": "Hel"}, "finish_reason": None}]},
        {"choices": [{"index": 0, "delta": {"content": "lo"}, "finish_reason": None}]},
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
        {
            "choices": [],
            "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18},
        },
    ]


def test_stream_interleaved_text_and_multiple_tools() -> None:
    events = [
        env([ch({"role": "assistant", "content": ""})]),
        env([ch({"content": "Checking."})]),
        env(
            [
                ch(
                    {
                        "tool_calls": [
                            {
                                "index": 0,
                                "id": "call_a",
                                "type": "function",
                                "function": {"name": "get_weather", "arguments": ""},
                            }
                        ]
                    }
                )
            ]
        ),
        env(
            [ch({"tool_calls": [{"index": 0, "function": {"arguments": '{"city": '}}]})]
        ),
        env(
            [
                ch(
                    {
                        "tool_calls": [
                            {
                                "index": 1,
                                "id": "call_b",
                                "type": "function",
                                "function": {"name": "get_time", "arguments": "{}"},
                            }
                        ]
                    }
                )
            ]
        ),
        env(
            [ch({"tool_calls": [{"index": 0, "function": {"arguments": '"Paris"}'}}]})]
        ),
        env([ch({}, "tool_calls")]),
    ]
    out = feed_all(events)
    assert text_of(out) == "Checking."
    calls = tool_calls_of(out)
    assert calls == {
        0: {
            "id": "call_a",
            "type": "function",
            "name": "get_weather",
            "arguments": '{"city": "Paris"}',
        },
        1: {"id": "call_b", "type": "function", "name": "get_time", "arguments": "{}"},
    }
    assert json.loads(calls[0]["arguments"]) == {"city": "Paris"}
    assert finishes(out) == ["tool_calls"]
    # The start chunk of a call carries an empty arguments string; the rest follow.
    starts = [
        c["choices"][0]["delta"]["tool_calls"][0]
        for c in out
        if "id" in (c["choices"][0]["delta"].get("tool_calls") or [{}])[0]
    ]
    assert [s["function"]["arguments"] for s in starts] == ["", ""]


def test_stream_compat_quirks_are_normalised() -> None:
    """No role chunk, repeated id/name without type, finish on the content chunk,
    usage on the last chunk, a non-standard finish_reason, envelope-only chunks."""
    call = {"index": 0, "id": "c1", "function": {"name": "get_weather"}}
    events = [
        {"choices": []},  # nothing in it: dropped
        env([ch({"content": "Hi"})]),
        env(
            [
                ch(
                    {
                        "tool_calls": [
                            {**call, "function": {**call["function"], "arguments": "{"}}
                        ]
                    }
                )
            ]
        ),
        env(
            [
                ch(
                    {
                        "tool_calls": [
                            {**call, "function": {**call["function"], "arguments": "}"}}
                        ]
                    }
                )
            ]
        ),
        env(
            [ch({"content": "!"}, "error")],
            usage={"prompt_tokens": 2, "completion_tokens": 1},
        ),
    ]
    out = feed_all(events)
    assert out[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert text_of(out) == "Hi!"
    assert tool_calls_of(out) == {
        0: {"id": "c1", "type": "function", "name": "get_weather", "arguments": "{}"}
    }
    assert finishes(out) == ["stop"]
    final = out[-2]["choices"][0]
    assert final == {"index": 0, "delta": {}, "finish_reason": "stop"}
    assert out[-1] == {
        "choices": [],
        "usage": {"prompt_tokens": 2, "completion_tokens": 1, "total_tokens": 3},
    }


def test_stream_calls_sharing_index_zero_with_distinct_ids_are_separate() -> None:
    def call(call_id: str, name: str, args: str) -> dict[str, Any]:
        return {
            "index": 0,
            "id": call_id,
            "function": {"name": name, "arguments": args},
        }

    events = [
        env([ch({"tool_calls": [call("a", "f", '{"x":1}')]})]),
        env([ch({"tool_calls": [call("b", "g", '{"y":2}')]})]),
        env([ch({}, "tool_calls")]),
    ]
    calls = tool_calls_of(feed_all(events))
    assert calls[0]["name"] == "f" and calls[0]["arguments"] == '{"x":1}'
    assert calls[1]["name"] == "g" and calls[1]["arguments"] == '{"y":2}'


def test_stream_tool_call_without_index_or_id() -> None:
    events = [
        env([ch({"tool_calls": [{"function": {"name": "f", "arguments": '{"a"'}}]})]),
        env([ch({"tool_calls": [{"function": {"arguments": ":1}"}}]})]),
        env([ch({}, "tool_calls")]),
    ]
    calls = tool_calls_of(feed_all(events))
    assert list(calls) == [0]
    assert calls[0]["id"].startswith("call_") and len(calls[0]["id"]) == 29
    assert calls[0]["arguments"] == '{"a":1}'


def test_stream_waits_for_a_late_tool_name() -> None:
    events = [
        env(
            [
                ch(
                    {
                        "tool_calls": [
                            {"index": 0, "id": "c", "function": {"arguments": "{"}}
                        ]
                    }
                )
            ]
        ),
        env(
            [
                ch(
                    {
                        "tool_calls": [
                            {"index": 0, "function": {"name": "f", "arguments": "}"}}
                        ]
                    }
                )
            ]
        ),
        env([ch({}, "tool_calls")]),
    ]
    out = feed_all(events)
    start = out[1]["choices"][0]["delta"]["tool_calls"][0]
    assert start["function"] == {"name": "f", "arguments": ""}
    assert tool_calls_of(out)[0]["arguments"] == "{}"


def test_stream_keeps_logprobs_and_strips_envelope() -> None:
    logprobs = {"content": [{"token": "Hi", "logprob": -0.1, "top_logprobs": []}]}
    events = [
        env([{**ch({"content": "Hi"}), "logprobs": logprobs}], obfuscation="abc"),
        env([ch({}, "stop")]),
    ]
    out = feed_all(events)
    assert out[1] == {
        "choices": [
            {
                "index": 0,
                "delta": {"content": "Hi"},
                "logprobs": logprobs,
                "finish_reason": None,
            }
        ]
    }
    assert all(set(c) <= {"choices", "usage"} for c in out)


def test_stream_azure_quirks_are_dropped() -> None:
    events = [
        {
            "id": "",
            "object": "",
            "created": 0,
            "model": "",
            "choices": [],
            "prompt_filter_results": [{"prompt_index": 0}],
        },
        env([ch({"role": "assistant", "content": ""})]),
        env([ch({"content": "Hi"})]),
        env([ch({}, "stop")]),
        env([{"index": 0, "finish_reason": None, "content_filter_results": {}}]),
    ]
    out = feed_all(events)
    assert len(out) == 3 and text_of(out) == "Hi" and finishes(out) == ["stop"]


def test_stream_multiple_choices() -> None:
    events = [
        env([ch({"role": "assistant", "content": ""}, index=0)]),
        env([ch({"role": "assistant", "content": ""}, index=1)]),
        env([ch({"content": "A"}, index=0)]),
        env([ch({"content": "B"}, index=1)]),
        env([ch({}, "stop", index=0)]),
        env([ch({}, "length", index=1)]),
    ]
    out = feed_all(events)
    assert text_of(out, 0) == "A" and text_of(out, 1) == "B"
    assert finishes(out) == ["stop", "length"]


def test_stream_finish_closes_unfinished_choices_and_repeated_role_is_dropped() -> None:
    translator = OpenAIStreamTranslator()
    out = translator.feed(env([ch({"role": "assistant", "content": "a"})]))
    out += translator.feed(env([ch({"role": "assistant", "content": "b"})]))
    assert not translator.finished
    out += translator.finish()
    roles = [c["choices"][0]["delta"].get("role") for c in out if c["choices"]]
    assert roles.count("assistant") == 1
    assert text_of(out) == "ab" and finishes(out) == ["stop"]


def test_stream_error_event_raises() -> None:
    translator = OpenAIStreamTranslator("Groq")
    translator.feed(env([ch({"content": "a"})]))
    with pytest.raises(DriverError) as info:
        translator.feed({"error": {"message": "Rate limited", "type": "rate_limit"}})
    assert info.value.status == 429 and "Rate limited" in info.value.message


@pytest.mark.parametrize(
    ("error", "status"),
    [
        ({"message": "x", "type": "server_error"}, 502),
        ({"message": "x", "code": 503}, 503),
        ({"message": "x", "code": "429"}, 429),
        ({"message": "x", "type": "overloaded_error"}, 503),
        ({"message": "x", "type": "invalid_request_error"}, 400),
        ("plain text", 502),
    ],
)
def test_error_from_stream_event(error: Any, status: int) -> None:
    assert error_from_stream_event({"error": error}).status == status


def test_completion_to_chunks() -> None:
    body = completion_body()
    body["choices"][0]["message"] = {
        "role": "assistant",
        "content": "Checking.",
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
            }
        ],
    }
    body["choices"][0]["finish_reason"] = "tool_calls"
    out = completion_to_chunks(body)
    assert out[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert text_of(out) == "Checking."
    assert tool_calls_of(out)[0] == {
        "id": "call_1",
        "type": "function",
        "name": "get_weather",
        "arguments": '{"city":"Paris"}',
    }
    assert finishes(out) == ["tool_calls"]
    assert out[-1]["usage"]["total_tokens"] == 18


# -- embeddings, models, errors -------------------------------------------------------


def test_embeddings_body_and_response() -> None:
    request = {
        "model": "name",
        "input": [[1, 2], [3]],
        "dimensions": 2,
        "encoding_format": "base64",
    }
    body = build_embeddings_body(cfg(), request, "text-embedding-3-small")
    assert body == {**request, "model": "text-embedding-3-small"}
    upstream = {
        "object": "list",
        "model": "m",
        "data": [{"object": "embedding", "index": 0, "embedding": [0.5, -0.25]}],
        "usage": {"prompt_tokens": 3},
    }
    encoded = parse_embeddings_response(upstream, "base64")
    raw = base64.b64decode(encoded["data"][0]["embedding"])
    assert struct.unpack("<2f", raw) == (0.5, -0.25)
    assert encoded["usage"] == {"prompt_tokens": 3, "total_tokens": 3}
    assert parse_embeddings_response(upstream, None)["data"][0]["embedding"] == [
        0.5,
        -0.25,
    ]
    as_base64 = {**upstream, "data": [{"embedding": floats_to_base64([1.0])}]}
    decoded = parse_embeddings_response(as_base64, "float")["data"][0]
    assert decoded == {"embedding": [1.0], "object": "embedding", "index": 0}


def test_models_parsing_and_classification() -> None:
    data = {
        "object": "list",
        "data": [
            {"id": "gpt-4o", "object": "model", "owned_by": "system"},
            {"id": "text-embedding-3-small", "object": "model"},
            {"id": "nomic-embed-text", "context_length": 8192},
            {"id": "BAAI/bge-reranker-v2-m3"},
            {"id": "mixtral", "name": "Mixtral 8x7B", "context_window": 32768},
            {"object": "model"},
        ],
    }
    models = parse_models(data)
    assert [(m.model_id, m.model_type) for m in models] == [
        ("gpt-4o", "inference"),
        ("text-embedding-3-small", "embedding"),
        ("nomic-embed-text", "embedding"),
        ("BAAI/bge-reranker-v2-m3", "rerank"),
        ("mixtral", "inference"),
    ]
    assert models[2].context_window == 8192
    assert models[4].name == "Mixtral 8x7B" and models[4].context_window == 32768
    # Together answers with a bare list and declares types.
    together = parse_models(
        [{"id": "m-x", "type": "embedding"}, {"id": "r", "type": "rerank"}]
    )
    assert [m.model_type for m in together] == ["embedding", "rerank"]
    assert classify_model("text-embedding-ada-002") == "embedding"


def err_body(message: str, code: str | None = None, param: str | None = None) -> bytes:
    return json.dumps(
        {"error": {"message": message, "type": "x", "param": param, "code": code}}
    ).encode()


@pytest.mark.parametrize(
    ("status", "gateway_status", "code"),
    [
        (400, 400, "upstream_invalid_request"),
        (401, 502, "upstream_auth_error"),
        (403, 502, "upstream_auth_error"),
        (404, 502, "upstream_model_not_found"),
        (408, 504, "upstream_timeout"),
        (413, 413, "request_too_large"),
        (429, 429, "upstream_rate_limited"),
        (500, 502, "upstream_error"),
        (502, 502, "upstream_error"),
        (503, 503, "upstream_unavailable"),
    ],
)
def test_error_mapping(status: int, gateway_status: int, code: str) -> None:
    err = openai_error(status, err_body("boom"), {}, "OpenAI")
    assert (err.status, err.code) == (gateway_status, code)
    assert "boom" in err.message


def test_error_mapping_details() -> None:
    err = openai_error(429, err_body("slow down"), {"retry-after": "7"})
    assert err.retry_after == 7 and err.transient
    err = openai_error(
        400, err_body("too long", "context_length_exceeded", "messages"), {}
    )
    assert err.param == "messages" and err.type == "invalid_request_error"
    err = openai_error(500, b"<html>oops</html>", {"x-should-retry": "false"})
    assert err.status == 502 and err.permanent


def test_registry_maps_every_openai_family_type_to_this_driver() -> None:
    for kind in (
        "openai",
        "openai_compatible",
        "openrouter",
        "groq",
        "together",
        "fireworks",
        "deepseek",
        "mistral",
        "xai",
        "vllm",
    ):
        assert driver_class(kind) is OpenAIDriver


# -- I/O against the fake ---------------------------------------------------------


def test_fake_rejects_what_openai_rejects() -> None:
    async def go(client: httpx.AsyncClient, url: str) -> list[httpx.Response]:
        auth = {"Authorization": f"Bearer {KEY}"}
        good = {"model": "gpt-4o-mini", "messages": [user("hi")]}
        bodies = [
            {**good, "bogus": 1},
            {**good, "stream_options": {"include_usage": True}},
            {
                **good,
                "messages": [{"role": "tool", "tool_call_id": "x", "content": "r"}],
            },
            {**good, "messages": []},
            {**good, "messages": [{"role": "bot", "content": "x"}]},
            {"messages": [user("hi")]},
            {**good, "model": "o3-mini", "max_tokens": 5},
        ]
        out = [
            await client.post(f"{url}/chat/completions", json=b, headers=auth)
            for b in bodies
        ]
        out.append(await client.post(f"{url}/chat/completions", json=good))
        out.append(
            await client.post(
                f"{url}/chat/completions",
                json=good,
                headers={"Authorization": "Bearer no"},
            )
        )
        return out

    with serve(fake.make_app(api_key=KEY)) as server:
        responses = run(lambda c: go(c, server.url + "/v1"))
    statuses = [r.status_code for r in responses]
    assert statuses == [400, 400, 400, 400, 400, 400, 400, 401, 401]
    errors = [r.json()["error"] for r in responses]
    assert errors[0] == {
        "message": "Unrecognized request argument supplied: bogus",
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }
    assert errors[1]["param"] == "stream_options"
    assert "preceeding message with 'tool_calls'" in errors[2]["message"]
    assert errors[3]["code"] == "empty_array"
    assert errors[4]["param"] == "messages[0].role"
    assert errors[6]["code"] == "unsupported_parameter"
    assert errors[8]["code"] == "invalid_api_key"


def with_driver(
    fn: Callable[[OpenAIDriver], Awaitable[Any]],
    app_options: dict[str, Any] | None = None,
    **config_options: Any,
) -> tuple[Any, list[dict[str, Any]]]:
    app = fake.make_app(api_key=KEY, **(app_options or {}))
    with serve(app) as server:
        prefix = (app_options or {}).get("prefix", "/v1")
        config = cfg(server.url + prefix, **config_options)

        async def go(client: httpx.AsyncClient) -> Any:
            return await fn(OpenAIDriver(config, client))

        result = run(go)
    return result, app["requests"]


def expect_error(
    fn: Callable[[OpenAIDriver], Awaitable[Any]],
    app_options: dict[str, Any] | None = None,
    **config_options: Any,
) -> DriverError:
    async def wrapped(driver: OpenAIDriver) -> Any:
        try:
            await fn(driver)
        except DriverError as exc:
            return exc
        raise AssertionError("no DriverError raised")

    return with_driver(wrapped, app_options, **config_options)[0]


async def collect(
    driver: OpenAIDriver, request: dict[str, Any], model: str = "gpt-4o-mini"
):
    return [chunk async for chunk in driver.chat_stream(request, model)]


def test_chat_text() -> None:
    request = {"model": "my-alias", "messages": [user("hi there")]}
    answer, requests = with_driver(lambda d: d.chat(request, "gpt-4o-mini"))
    assert answer["object"] == "chat.completion"
    assert answer["choices"][0]["message"]["content"] == "Hello from openai: hi there"
    assert answer["choices"][0]["finish_reason"] == "stop"
    assert answer["usage"]["prompt_tokens"] == 11
    assert answer["usage"]["completion_tokens"] == 7
    assert answer["usage"]["total_tokens"] == 18
    sent = requests[0]
    assert sent["path"] == "/v1/chat/completions"
    assert sent["headers"]["Authorization"] == f"Bearer {KEY}"
    assert sent["json"] == {"model": "gpt-4o-mini", "messages": [user("hi there")]}


def test_chat_multi_turn_with_system_prompt() -> None:
    messages = [
        {"role": "system", "content": "You are terse."},
        user("first"),
        {"role": "assistant", "content": "ok"},
        {"role": "developer", "content": "Answer in English."},
        user("second"),
    ]
    request = {"messages": messages, "temperature": 0.3}
    answer, requests = with_driver(lambda d: d.chat(request, "gpt-4o"))
    assert answer["choices"][0]["message"]["content"] == "Hello from openai: second"
    assert requests[0]["json"]["messages"] == messages
    assert requests[0]["json"]["temperature"] == 0.3


def test_chat_stream_text() -> None:
    request = {"messages": [user("stream me")], "stream": True}
    chunks, requests = with_driver(lambda d: collect(d, request))
    assert requests[0]["json"]["stream_options"] == {"include_usage": True}
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    content = [
        c for c in chunks if c["choices"] and c["choices"][0]["delta"].get("content")
    ]
    assert len(content) >= 3
    assert text_of(chunks) == "Hello from openai: stream me"
    assert finishes(chunks) == ["stop"]
    assert chunks[-1] == {
        "choices": [],
        "usage": {
            "prompt_tokens": 11,
            "completion_tokens": 7,
            "total_tokens": 18,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
        },
    }
    assert all("id" not in c and "model" not in c for c in chunks)


def test_chat_stream_length() -> None:
    chunks, _ = with_driver(lambda d: collect(d, {"messages": [user("LENGTH")]}))
    assert finishes(chunks) == ["length"]


def test_stream_usage_off_for_a_preset_that_rejects_stream_options() -> None:
    request = {"messages": [user("hi")], "stream_options": {"include_usage": True}}
    chunks, requests = with_driver(
        lambda d: collect(d, request),
        {"quirks": ["reject_stream_options"]},
        stream_usage=False,
    )
    assert "stream_options" not in requests[0]["json"]
    assert text_of(chunks) == "Hello from openai: hi"
    assert all(c["choices"] for c in chunks)  # the upstream reported no usage
    err = expect_error(
        lambda d: collect(d, request), {"quirks": ["reject_stream_options"]}
    )
    assert err.status == 400 and err.param == "stream_options"


def test_chat_stream_from_a_quirky_compatible_server() -> None:
    quirks = ["comments", "no_role", "finish_with_content", "usage_on_last_chunk",
              "tool_repeat", "finish_error", "no_done"]  # fmt: skip
    request = {"messages": [user("weather?")], "tools": TOOLS}
    chunks, _ = with_driver(
        lambda d: collect(d, request, "llama-3"),
        {"quirks": quirks, "models": ["llama-3"], "prefix": "/openai/v1"},
        provider_type="groq",
    )
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert text_of(chunks) == "Checking."
    calls = tool_calls_of(chunks)
    assert list(calls) == [0] and calls[0]["type"] == "function"
    assert calls[0]["name"] == "get_weather"
    assert json.loads(calls[0]["arguments"]) == {"city": "Paris"}
    assert finishes(chunks) == ["stop"]  # "error" mapped
    assert chunks[-2]["choices"][0]["delta"] == {}
    assert chunks[-1]["usage"]["total_tokens"] == 18


def test_chat_stream_answered_as_json() -> None:
    chunks, _ = with_driver(
        lambda d: collect(d, {"messages": [user("hi")]}), {"quirks": ["json_stream"]}
    )
    assert text_of(chunks) == "Hello from openai: hi"
    assert finishes(chunks) == ["stop"] and chunks[-1]["usage"]["total_tokens"] == 18


def test_chat_tools_non_streaming() -> None:
    request = {
        "messages": [user("weather in Paris?")],
        "tools": TOOLS,
        "tool_choice": "auto",
    }
    answer, requests = with_driver(lambda d: d.chat(request, "gpt-4o-mini"))
    choice = answer["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] == "Checking."
    call = choice["message"]["tool_calls"][0]
    assert call["function"]["name"] == "get_weather"
    assert json.loads(call["function"]["arguments"]) == {"city": "Paris"}
    assert requests[0]["json"]["tools"] == TOOLS


def test_chat_tools_streaming() -> None:
    request = {"messages": [user("weather in Paris?")], "tools": TOOLS}
    chunks, _ = with_driver(lambda d: collect(d, request))
    calls = tool_calls_of(chunks)
    assert list(calls) == [0]
    assert calls[0]["id"].startswith("call_") and calls[0]["type"] == "function"
    assert json.loads(calls[0]["arguments"]) == {"city": "Paris"}
    fragments = [
        call["function"]["arguments"]
        for c in chunks
        for choice in c["choices"]
        for call in choice["delta"].get("tool_calls", [])
        if "id" not in call
    ]
    assert len(fragments) >= 2 and all(fragments)
    assert finishes(chunks) == ["tool_calls"]
    assert text_of(chunks) == "Checking."


def test_tool_result_round_trip() -> None:
    async def go(driver: OpenAIDriver) -> dict[str, Any]:
        messages: list[dict[str, Any]] = [user("weather in Paris?")]
        first = await driver.chat({"messages": messages, "tools": TOOLS}, "gpt-4o")
        message = first["choices"][0]["message"]
        messages.append(
            {
                "role": "assistant",
                "content": message["content"],
                "tool_calls": message["tool_calls"],
            }
        )
        messages.append(
            {
                "role": "tool",
                "tool_call_id": message["tool_calls"][0]["id"],
                "content": "22C, sunny",
            }
        )
        return await driver.chat({"messages": messages, "tools": TOOLS}, "gpt-4o")

    answer, _ = with_driver(go)
    assert answer["choices"][0]["message"]["content"] == "The tool said: 22C, sunny"
    assert answer["choices"][0]["finish_reason"] == "stop"


def test_unknown_caller_fields_reach_openai_which_rejects_them() -> None:
    request = {"messages": [user("hi")], "not_a_field": True}
    err = expect_error(lambda d: d.chat(request, "gpt-4o-mini"))
    assert err.status == 400 and err.code == "upstream_invalid_request"
    assert "Unrecognized request argument supplied: not_a_field" in err.message


def test_reasoning_model_gets_max_completion_tokens() -> None:
    request = {"messages": [user("think")], "max_tokens": 64}
    answer, requests = with_driver(lambda d: d.chat(request, "o3-mini"))
    assert requests[0]["json"]["max_completion_tokens"] == 64
    assert "max_tokens" not in requests[0]["json"]
    assert answer["choices"][0]["message"]["content"] == "Hello from openai: think"


@pytest.mark.parametrize(
    ("text", "status", "code"),
    [
        ("FAIL 429", 429, "upstream_rate_limited"),
        ("FAIL 401", 502, "upstream_auth_error"),
        ("FAIL 500", 502, "upstream_error"),
        ("FAIL 503", 503, "upstream_unavailable"),
        ("FAIL 400", 400, "upstream_invalid_request"),
    ],
)
@pytest.mark.parametrize("stream", [False, True])
def test_upstream_errors(text: str, status: int, code: str, stream: bool) -> None:
    request = {"messages": [user(text)]}
    call = (
        (lambda d: collect(d, request))
        if stream
        else (lambda d: d.chat(request, "gpt-4o"))
    )
    err = expect_error(call)
    assert (err.status, err.code) == (status, code)
    if status == 429:
        assert err.retry_after == 7
    if status == 400:
        assert err.param == "messages"
    assert "***" not in err.message


def test_timeout_maps_to_504() -> None:
    err = expect_error(
        lambda d: d.chat({"messages": [user("SLOW 2")]}, "gpt-4o"),
        timeouts=Timeouts(connect=2, first_byte=0.3, total=5),
    )
    assert (err.status, err.code) == (504, "upstream_timeout")


def test_break_mid_stream_raises() -> None:
    async def go(driver: OpenAIDriver) -> tuple[list[dict[str, Any]], DriverError]:
        seen: list[dict[str, Any]] = []
        try:
            async for chunk in driver.chat_stream(
                {"messages": [user("BREAK")]}, "gpt-4o"
            ):
                seen.append(chunk)
        except DriverError as exc:
            return seen, exc
        raise AssertionError("the stream did not fail")

    (seen, err), _ = with_driver(lambda d: asyncio.wait_for(go(d), 10))
    assert text_of(seen)  # some text arrived before the break
    assert err.status in (502, 503, 504) and err.transient


def test_stream_error_event_raises_mid_stream() -> None:
    err = expect_error(lambda d: collect(d, {"messages": [user("STREAM ERROR")]}))
    assert err.status == 502 and "server had an error" in err.message


def test_closing_the_generator_early_releases_the_stream() -> None:
    async def go(driver: OpenAIDriver) -> list[dict[str, Any]]:
        stream = driver.chat_stream({"messages": [user("hello")]}, "gpt-4o")
        first = [await stream.__anext__()]
        await stream.aclose()  # what the gateway does when its caller goes away
        first.append(await driver.chat({"messages": [user("again")]}, "gpt-4o"))
        return first

    (first, answer), _ = with_driver(go)
    assert first["choices"][0]["delta"]["role"] == "assistant"
    assert answer["choices"][0]["message"]["content"] == "Hello from openai: again"


def test_embeddings() -> None:
    request = {"model": "alias", "input": ["one", "two"]}
    answer, requests = with_driver(lambda d: d.embed(request, "text-embedding-3-small"))
    assert requests[0]["path"] == "/v1/embeddings"
    assert requests[0]["json"] == {
        "model": "text-embedding-3-small",
        "input": ["one", "two"],
    }
    assert [item["embedding"] for item in answer["data"]] == [
        fake.embedding_vector("one"),
        fake.embedding_vector("two"),
    ]
    assert answer["usage"]["total_tokens"] == 2


@pytest.mark.parametrize("quirks", [[], ["ignore_base64"]])
def test_embeddings_base64_upstream_or_local(quirks: list[str]) -> None:
    request = {"input": [[1, 2, 3]], "encoding_format": "base64", "dimensions": 3}
    answer, _ = with_driver(
        lambda d: d.embed(request, "text-embedding-3-small"), {"quirks": quirks}
    )
    raw = base64.b64decode(answer["data"][0]["embedding"])
    assert list(struct.unpack("<3f", raw)) == fake.embedding_vector([1, 2, 3])[:3]


def test_embeddings_error_maps() -> None:
    err = expect_error(lambda d: d.embed({"input": ""}, "text-embedding-3-small"))
    assert err.status == 400 and err.param == "input"


def test_list_models_and_health_check() -> None:
    async def go(driver: OpenAIDriver) -> Any:
        await driver.health_check()
        return await driver.list_models()

    models, requests = with_driver(go)
    assert requests[0]["path"] == "/v1/models"
    kinds = {m.model_id: m.model_type for m in models}
    assert kinds == {
        "gpt-4o-mini": "inference",
        "gpt-4o": "inference",
        "o3-mini": "inference",
        "text-embedding-3-small": "embedding",
    }


def test_health_check_fails_with_a_bad_key_without_leaking_it() -> None:
    err = expect_error(lambda d: d.health_check(), api_key="sk-wrong-SECRETVALUE")
    assert (err.status, err.code, health_of(err)) == (
        502,
        "upstream_auth_error",
        "unavailable",
    )
    assert "SECRETVALUE" not in err.message and "sk-wr" not in err.message


def test_unreachable_upstream_is_503() -> None:
    async def go(client: httpx.AsyncClient) -> DriverError:
        driver = OpenAIDriver(cfg("http://127.0.0.1:9/v1"), client)
        with pytest.raises(DriverError) as info:
            await driver.list_models()
        return info.value

    err = run(go)
    # 503 by the contract; the aiohttp transport reports a refused connection as
    # a ConnectTimeout, which maps to 504 (reported to the lead).
    assert err.status == 503 and err.code == "upstream_unavailable" and err.transient
