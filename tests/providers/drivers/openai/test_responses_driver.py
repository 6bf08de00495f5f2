"""The OpenAI driver with ``wire_api: responses`` against the strict fake, over sockets.

Chat calls are translated to ``POST /v1/responses`` and back; ``responses_raw``
passes a client's Responses body through with only ``model`` replaced. What the
fake answers is checked with the openai SDK's own types (the shapes OpenAI
documents) as well as field by field.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pydantic
import pytest
from openai.types.responses import Response, ResponseStreamEvent

from providers.drivers.errors import DriverError, TransientDriverError
from providers.drivers.openai.driver import OpenAIDriver
from providers.drivers.openai.responses_raw import RawResponse, RawResponseStream
from tests.providers.drivers.openai.support import (
    TOOLS,
    collect,
    expect_error,
    finishes,
    text_of,
    tool_calls_of,
    with_driver,
)
from tests.providers.drivers.vectors import user

EVENTS: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(ResponseStreamEvent)
RESPONSES = {"wire_api": "responses"}
PNG = "data:image/png;base64," + base64.b64encode(b"\x89PNG fake").decode()


def chat(request: dict[str, Any], model: str = "gpt-4o-mini", **app: Any):
    async def go(driver: OpenAIDriver) -> Any:
        return await driver.chat(request, model)

    return with_driver(go, app or None, **RESPONSES)


def stream(request: dict[str, Any], model: str = "gpt-4o-mini"):
    async def go(driver: OpenAIDriver) -> Any:
        return await collect(driver, request, model)

    return with_driver(go, **RESPONSES)


def sent(requests: list[dict[str, Any]]) -> dict[str, Any]:
    (request,) = requests
    assert request["path"] == "/v1/responses"
    return request["json"]  # type: ignore[no-any-return]


def test_a_text_answer_comes_back_as_a_chat_completion() -> None:
    request = {
        "model": "gw-name",
        "messages": [{"role": "system", "content": "Be brief."}, user("hi")],
        "max_tokens": 100,
        "temperature": 0.5,
    }
    answer, requests = chat(request)
    assert sent(requests) == {
        "model": "gpt-4o-mini",
        "instructions": "Be brief.",
        "input": [
            {
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "hi"}],
            }
        ],
        "temperature": 0.5,
        "max_output_tokens": 100,
        "store": False,
    }
    assert requests[0]["headers"]["Authorization"] == "Bearer sk-test-key"
    (choice,) = answer["choices"]
    assert choice["message"] == {
        "role": "assistant",
        "content": "Hello from openai: hi",
    }
    assert choice["finish_reason"] == "stop"
    assert answer["object"] == "chat.completion"
    assert answer["usage"] == {
        "prompt_tokens": 11,
        "completion_tokens": 7,
        "total_tokens": 18,
        "prompt_tokens_details": {"cached_tokens": 3},
        "completion_tokens_details": {"reasoning_tokens": 0},
    }


def test_tools_round_trip_keeps_the_call_id() -> None:
    answer, requests = chat({"messages": [user("weather?")], "tools": TOOLS})
    tool = sent(requests)["tools"][0]
    assert tool == {
        "type": "function",
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": TOOLS[0]["function"]["parameters"],
        "strict": False,
    }
    message = answer["choices"][0]["message"]
    assert answer["choices"][0]["finish_reason"] == "tool_calls"
    (call,) = message["tool_calls"]
    assert call["id"].startswith("call_")
    assert call["function"] == {"name": "get_weather", "arguments": '{"city": "Paris"}'}
    followup = {
        "messages": [
            user("weather?"),
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": call["id"], "content": "sunny"},
        ],
        "tools": TOOLS,
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
    }
    answer, requests = chat(followup)
    body = sent(requests)
    assert body["input"][1:] == [
        {
            "type": "function_call",
            "call_id": call["id"],
            "name": "get_weather",
            "arguments": '{"city": "Paris"}',
        },
        {"type": "function_call_output", "call_id": call["id"], "output": "sunny"},
    ]
    assert body["tool_choice"] == {"type": "function", "name": "get_weather"}
    assert answer["choices"][0]["message"]["content"] == "The tool said: sunny"


def test_images_and_structured_output() -> None:
    schema = {
        "name": "city",
        "schema": {"type": "object", "properties": {"name": {"type": "string"}}},
        "strict": True,
    }
    request = {
        "messages": [
            user(
                [
                    {"type": "text", "text": "what is it?"},
                    {"type": "image_url", "image_url": {"url": PNG, "detail": "low"}},
                ]
            )
        ],
        "response_format": {"type": "json_schema", "json_schema": schema},
    }
    answer, requests = chat(request)
    body = sent(requests)
    assert body["input"][0]["content"] == [
        {"type": "input_text", "text": "what is it?"},
        {"type": "input_image", "image_url": PNG, "detail": "low"},
    ]
    assert body["text"] == {"format": {"type": "json_schema", **schema}}
    # The fake answers from the schema it was given.
    assert answer["choices"][0]["message"]["content"] == '{"name": "Paris"}'


def test_a_cut_answer_is_length_and_reasoning_models_report_reasoning() -> None:
    answer, _ = chat({"messages": [user("LENGTH")]})
    assert answer["choices"][0]["finish_reason"] == "length"
    answer, requests = chat(
        {"messages": [user("think")], "reasoning_effort": "high"}, model="o3-mini"
    )
    assert sent(requests)["reasoning"] == {"effort": "high"}
    assert answer["usage"]["completion_tokens_details"] == {"reasoning_tokens": 5}


@pytest.mark.parametrize(
    ("field", "value"),
    [("stop", ["END"]), ("n", 2), ("seed", 1), ("logit_bias", {"1": 2})],
)
def test_what_responses_cannot_express_is_refused_before_calling(
    field: str, value: Any
) -> None:
    err = expect_error(
        lambda d: d.chat({"messages": [user("hi")], field: value}, "gpt-4o-mini"),
        **RESPONSES,
    )
    assert (err.status, err.param) == (400, field)


def test_upstream_errors_are_mapped() -> None:
    err = expect_error(
        lambda d: d.chat({"messages": [user("FAIL 429")]}, "gpt-4o-mini"), **RESPONSES
    )
    assert isinstance(err, TransientDriverError)
    assert (err.status, err.retry_after) == (429, 7)
    err = expect_error(
        lambda d: d.chat({"messages": [user("hi")]}, "gpt-4o-mini"),
        api_key="sk-wrong",
        **RESPONSES,
    )
    assert (err.status, err.code) == (502, "upstream_auth_error")
    assert "sk-wrong" not in err.message


def test_a_stream_is_translated_to_canonical_chunks() -> None:
    chunks, requests = stream(
        {"messages": [user("hi")], "stream_options": {"include_usage": True}}
    )
    assert sent(requests)["stream"] is True
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert text_of(chunks) == "Hello from openai: hi"
    assert finishes(chunks) == ["stop"]
    assert chunks[-1] == {
        "choices": [],
        "usage": {
            "prompt_tokens": 11,
            "completion_tokens": 7,
            "total_tokens": 18,
            "prompt_tokens_details": {"cached_tokens": 3},
            "completion_tokens_details": {"reasoning_tokens": 0},
        },
    }


def test_a_streamed_tool_call_and_a_cut_stream() -> None:
    chunks, _ = stream({"messages": [user("weather?")], "tools": TOOLS})
    (call,) = tool_calls_of(chunks).values()
    assert call["name"] == "get_weather" and call["id"].startswith("call_")
    assert call["arguments"] == '{"city": "Paris"}'
    assert finishes(chunks) == ["tool_calls"]
    chunks, _ = stream({"messages": [user("LENGTH")]})
    assert finishes(chunks) == ["length"]


@pytest.mark.parametrize(
    ("text", "status"), [("BREAK", 503), ("STREAM ERROR", 502), ("ERROR EVENT", 429)]
)
def test_broken_and_failed_streams_raise_mapped_errors(text: str, status: int) -> None:
    err = expect_error(lambda d: collect(d, {"messages": [user(text)]}), **RESPONSES)
    assert err.status == status


def raw(body: dict[str, Any], model: str = "gpt-4o-mini", *, streamed: bool = False):
    async def go(driver: OpenAIDriver) -> Any:
        assert driver.accepts_responses_raw(model)
        if not streamed:
            return await driver.responses_raw(body, model)
        opened = await driver.responses_raw(body, model, stream=True)
        events = [event async for event in opened]
        return opened, events

    return with_driver(go, **RESPONSES)


BUILTIN_BODY = {
    "model": "gateway-name",
    "input": [
        {"role": "user", "content": "news?"},
    ],
    "tools": [{"type": "web_search"}],
    "include": ["reasoning.encrypted_content", "web_search_call.action.sources"],
    "reasoning": {"effort": "low", "summary": "auto"},
    "store": False,
    "x_unknown_kept": None,
}


def test_responses_raw_sends_the_body_as_sent_and_returns_the_response() -> None:
    body = {k: v for k, v in BUILTIN_BODY.items() if k != "x_unknown_kept"}
    answer, requests = raw(body, "o3-mini")
    assert isinstance(answer, RawResponse)
    assert list(sent(requests)) == list(body)
    assert sent(requests) == {**body, "model": "o3-mini"}
    Response.model_validate(answer.body)
    kinds = [item["type"] for item in answer.body["output"]]
    assert kinds == ["reasoning", "web_search_call", "message"]
    reasoning = answer.body["output"][0]
    assert reasoning["encrypted_content"].startswith("enc_")
    assert reasoning["summary"] == [
        {"type": "summary_text", "text": "Considering the question."}
    ]
    assert answer.usage.canonical() == {
        "prompt_tokens": 11,
        "completion_tokens": 12,
        "total_tokens": 23,
        "prompt_tokens_details": {"cached_tokens": 3},
        "completion_tokens_details": {"reasoning_tokens": 5},
    }
    # The reasoning item goes back in the next turn's input, as OpenAI wants it.
    followup = {
        "input": [
            *body["input"],
            *answer.body["output"],
            {"role": "user", "content": "more"},
        ],
        "include": ["reasoning.encrypted_content"],
        "store": False,
    }
    again, requests = raw(followup, "o3-mini")
    assert sent(requests)["input"][1] == reasoning
    assert again.body["status"] == "completed"


def test_unknown_fields_reach_the_upstream_which_refuses_them() -> None:
    err = expect_error(lambda d: d.responses_raw(BUILTIN_BODY, "o3-mini"), **RESPONSES)
    assert (err.status, err.param) == (400, "x_unknown_kept")
    assert "Unknown parameter: 'x_unknown_kept'." in err.message


def test_responses_raw_relays_every_event_in_order() -> None:
    body = {k: v for k, v in BUILTIN_BODY.items() if k != "x_unknown_kept"}
    (opened, events), requests = raw(body, "o3-mini", streamed=True)
    assert isinstance(opened, RawResponseStream)
    assert sent(requests)["stream"] is True
    for event in events:
        EVENTS.validate_python(event.data)
        assert json.loads(event.text) == event.data
        assert event.event == event.data["type"]
    assert [e.data["sequence_number"] for e in events] == list(range(len(events)))
    kinds = [e.event for e in events]
    assert kinds[:3] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
    ]
    assert kinds[-1] == "response.completed"
    assert "response.reasoning_summary_text.delta" in kinds
    assert "response.web_search_call.completed" in kinds
    assert opened.usage.canonical()["completion_tokens_details"] == {
        "reasoning_tokens": 5
    }
    done = [e.data["item"] for e in events if e.event == "response.output_item.done"]
    assert done[0]["encrypted_content"].startswith("enc_")


@pytest.mark.parametrize(
    ("text", "status"), [("BREAK", 503), ("STREAM ERROR", 502), ("ERROR EVENT", 429)]
)
def test_a_raw_stream_that_breaks_or_fails_raises(text: str, status: int) -> None:
    async def go(driver: OpenAIDriver) -> Any:
        opened = await driver.responses_raw({"input": text}, "gpt-4o-mini", stream=True)
        return [event async for event in opened]

    err = expect_error(go, **RESPONSES)
    assert isinstance(err, DriverError) and err.status == status


def test_chat_completions_providers_refuse_the_pass_through() -> None:
    async def go(driver: OpenAIDriver) -> Any:
        assert not driver.accepts_responses_raw("gpt-4o-mini")
        return await driver.responses_raw({"input": "hi"}, "gpt-4o-mini")

    err = expect_error(go)
    assert (err.status, err.param) == (400, "model")
