"""The pure Responses translation: request vectors, answers and event streams."""

from __future__ import annotations

from typing import Any

import pytest

from providers.drivers.config import DriverConfig
from providers.drivers.errors import DriverError
from providers.drivers.openai.responses_request import build_responses_body, wire_api
from providers.drivers.openai.responses_response import (
    ResponsesStreamTranslator,
    parse_responses_response,
)
from tests.providers.drivers.vectors import user


def body(**request: Any) -> dict[str, Any]:
    return build_responses_body(request, "gpt-5", stream=False)


def test_late_system_messages_stay_developer_messages_and_files_pass() -> None:
    sent = body(
        messages=[
            {"role": "developer", "content": "One."},
            {"role": "system", "content": [{"type": "text", "text": "Two."}]},
            user([{"type": "file", "file": {"file_id": "file-1"}}]),
            {"role": "assistant", "content": "ok"},
            {"role": "system", "content": "Later."},
        ],
        max_tokens=50,
        max_completion_tokens=60,
        reasoning_effort="low",
        verbosity="low",
        response_format={"type": "json_object"},
        tool_choice="required",
        parallel_tool_calls=False,
        store=True,
        stream_options={"include_usage": True},
    )
    assert sent == {
        "model": "gpt-5",
        "instructions": "One.\n\nTwo.",
        "input": [
            {
                "type": "message",
                "role": "user",
                "content": [{"type": "input_file", "file_id": "file-1"}],
            },
            {
                "type": "message",
                "role": "assistant",
                "content": [{"type": "output_text", "text": "ok", "annotations": []}],
            },
            {
                "type": "message",
                "role": "system",
                "content": [{"type": "input_text", "text": "Later."}],
            },
        ],
        "parallel_tool_calls": False,
        "max_output_tokens": 60,
        "tool_choice": "required",
        "text": {"format": {"type": "json_object"}, "verbosity": "low"},
        "reasoning": {"effort": "low"},
        "store": False,
    }


@pytest.mark.parametrize(
    ("request_", "param"),
    [
        (
            {"messages": [user([{"type": "input_audio", "input_audio": {}}])]},
            "messages[0].content[0].type",
        ),
        ({"messages": [user("hi")], "x_vendor": 1}, "x_vendor"),
        ({"messages": [user("hi")], "stop": "END"}, "stop"),
    ],
)
def test_what_cannot_be_sent_is_a_400_naming_the_field(
    request_: dict[str, Any], param: str
) -> None:
    with pytest.raises(DriverError) as caught:
        build_responses_body(request_, "gpt-5", stream=False)
    assert (caught.value.status, caught.value.param) == (400, param)


def test_a_bad_wire_api_is_a_misconfiguration() -> None:
    cfg = DriverConfig("openai", "https://x", "bearer", config={"wire_api": "grpc"})
    with pytest.raises(DriverError) as caught:
        wire_api(cfg)
    assert caught.value.code == "provider_misconfigured"


def test_reasoning_summaries_become_reasoning_content() -> None:
    answer = parse_responses_response(
        {
            "model": "o3",
            "created_at": 5,
            "status": "completed",
            "output": [
                {
                    "type": "reasoning",
                    "id": "rs_1",
                    "summary": [{"type": "summary_text", "text": "Hm."}],
                },
                {"type": "message", "content": [{"type": "output_text", "text": "Hi"}]},
            ],
            "usage": {"input_tokens": 3, "output_tokens": 4, "total_tokens": 7},
        }
    )
    assert answer["choices"][0]["message"] == {
        "role": "assistant",
        "content": "Hi",
        "reasoning_content": "Hm.",
    }
    assert answer["created"] == 5 and answer["usage"]["total_tokens"] == 7


def test_a_failed_response_and_a_stream_without_its_end_raise() -> None:
    with pytest.raises(DriverError) as caught:
        parse_responses_response(
            {
                "status": "failed",
                "output": [],
                "error": {"code": "rate_limit_exceeded", "message": "slow down"},
            }
        )
    assert caught.value.status == 429
    translator = ResponsesStreamTranslator()
    translator.feed({"type": "response.created", "response": {}})
    with pytest.raises(DriverError):
        translator.finish()


def test_stream_reasoning_deltas_and_incomplete() -> None:
    translator = ResponsesStreamTranslator()
    out = translator.feed(
        {"type": "response.reasoning_summary_text.delta", "delta": "Hm"}
    )
    out += translator.feed(
        {
            "type": "response.incomplete",
            "response": {
                "status": "incomplete",
                "incomplete_details": {"reason": "max_output_tokens"},
            },
        }
    )
    assert [c["choices"][0]["delta"] for c in out] == [
        {"role": "assistant", "content": ""},
        {"reasoning_content": "Hm"},
        {},
    ]
    assert out[-1]["choices"][0]["finish_reason"] == "length"
    assert translator.finish() == []
