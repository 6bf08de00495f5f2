"""anthropic: stream translation (vendor events → canonical chunks)."""

from __future__ import annotations

import pytest

from providers.drivers.anthropic.errors import error_from_event
from providers.drivers.anthropic.response import (
    StreamTranslator,
)
from providers.drivers.anthropic.translate import (
    build_chat_request,
)
from providers.drivers.config import DriverConfig
from providers.drivers.errors import DriverError
from tests.providers.drivers.anthropic.support import (
    SECRET,
    delta,
    events_text_and_two_tools,
)
from tests.providers.drivers.vectors import user


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
