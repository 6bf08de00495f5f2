"""Inbound Chat Completions to a provider set to the Responses API upstream.

The openai SDK calls the gateway's /v1/chat/completions; the provider
(``wire_api: responses``) is called at the strict fake's /responses, and the
answer comes back in Chat Completions' shape: text, tools both ways, streams,
usage recorded with cached tokens.
"""

from __future__ import annotations

import json

import openai
import pytest

from gateway import usage
from gateway.models import ApiKey, UsageRecord
from tests.gateway import upstreams
from tests.gateway.test_chat_openai_sdk import WEATHER_TOOL


@pytest.fixture(params=["openai-responses", "azure-responses"])
def upstream(request):
    with upstreams.start(request.param) as started:
        yield started


@pytest.fixture
def sdk(gateway, world, upstream):
    upstreams.register(upstream, world.acme)
    _, secret = ApiKey.issue(organization=world.acme, user=world.bob, name="bob")
    return openai.OpenAI(base_url=gateway.v1, api_key=secret, max_retries=0)


def responses_calls(upstream) -> list[dict]:
    return [r for r in upstream.requests if r["path"].endswith("/responses")]


def test_text_and_usage_through_the_responses_wire(sdk, upstream, world):
    answer = sdk.chat.completions.create(
        model="gpt-4o-mini",
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "hi"},
        ],
    )
    assert (
        answer.choices[0].message.content
        == f"Hello from {upstream.vendor.split('-')[0]}: hi"
    )
    assert answer.model == "gpt-4o-mini"
    assert answer.usage.prompt_tokens == 11
    assert answer.usage.prompt_tokens_details.cached_tokens == 3
    (sent,) = responses_calls(upstream)
    assert sent["json"]["instructions"] == "Be brief."
    assert sent["json"]["store"] is False
    usage.flush()
    record = UsageRecord.objects.get(organization=world.acme)
    assert (record.input_tokens, record.output_tokens, record.status_code) == (
        11,
        7,
        200,
    )


def test_a_tool_round_trip_plain_and_streamed(sdk, upstream):
    first = sdk.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "weather?"}],
        tools=[WEATHER_TOOL],
    )
    (call,) = first.choices[0].message.tool_calls
    assert json.loads(call.function.arguments) == {"city": "Paris"}
    messages = [
        {"role": "user", "content": "weather?"},
        first.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "sunny"},
    ]
    stream = sdk.chat.completions.create(
        model="gpt-4o-mini",
        messages=messages,
        tools=[WEATHER_TOOL],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "The tool said: sunny"
    assert chunks[-1].usage.total_tokens == 18
    sent = responses_calls(upstream)[-1]["json"]
    assert sent["input"][-1] == {
        "type": "function_call_output",
        "call_id": call.id,
        "output": "sunny",
    }


def test_what_responses_cannot_do_is_a_clear_400(sdk):
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "hi"}],
            stop=["END"],
        )
    assert caught.value.body["param"] == "stop"
    assert "Responses API" in caught.value.body["message"]


def test_a_failed_stream_ends_in_an_error(sdk):
    stream = sdk.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "STREAM ERROR"}],
        stream=True,
    )
    with pytest.raises(openai.APIError):
        list(stream)
