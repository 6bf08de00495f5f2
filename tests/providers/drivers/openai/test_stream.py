"""openai: stream translation (vendor events → canonical chunks)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from providers.drivers.errors import DriverError
from providers.drivers.openai.errors import error_from_stream_event
from providers.drivers.openai.response import (
    OpenAIStreamTranslator,
    completion_to_chunks,
    parse_chat_response,
)
from providers.drivers.openai.translate import (
    build_chat_body,
)
from tests.providers.drivers.openai.support import (
    TOOLS,
    cfg,
    ch,
    completion_body,
    env,
    feed_all,
    finishes,
    text_of,
    tool_calls_of,
)
from tests.providers.drivers.vectors import user


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
