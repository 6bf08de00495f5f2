"""The gateway end to end with the openai SDK against the strict OpenAI fake."""

from __future__ import annotations

import json
from decimal import Decimal

import openai
import pytest

from gateway import usage
from gateway.models import ApiKey, UsageRecord
from models_catalog.models import AIModel, Grant
from providers.models import Provider
from tests.gateway import upstreams

WEATHER_TOOL = {
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


@pytest.fixture
def fake_openai():
    with upstreams.start("openai") as upstream:
        yield upstream


@pytest.fixture
def sdk(gateway, world, fake_openai):
    upstreams.register(fake_openai, world.acme)
    key, secret = ApiKey.issue(organization=world.acme, user=world.bob, name="bob")
    client = openai.OpenAI(base_url=gateway.v1, api_key=secret, max_retries=0)
    client.key = key  # type: ignore[attr-defined]
    return client


def ask(sdk, text: str, **kwargs):
    return sdk.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": text}], **kwargs
    )


def test_chat_returns_the_upstream_answer_under_the_callers_model_name(
    sdk, fake_openai
):
    answer = ask(sdk, "hi")
    assert answer.choices[0].message.content == "Hello from openai: hi"
    assert answer.model == "gpt-4o-mini"
    assert answer.usage.prompt_tokens == 11 and answer.usage.completion_tokens == 7
    sent = fake_openai.requests[-1]
    assert sent["headers"]["Authorization"] == "Bearer sk-test-key"
    assert sent["json"]["model"] == "gpt-4o-mini"


def test_the_provider_can_be_pinned_by_name(sdk):
    answer = sdk.chat.completions.create(
        model="openai-fake/gpt-4o-mini", messages=[{"role": "user", "content": "x"}]
    )
    assert answer.model == "openai-fake/gpt-4o-mini"


def test_an_alias_routes_to_its_model(sdk):
    AIModel.objects.filter(model_id="gpt-4o-mini").update(alias="fast")
    AIModel.objects.get(model_id="gpt-4o-mini").save()  # invalidates caches
    answer = sdk.chat.completions.create(
        model="fast", messages=[{"role": "user", "content": "x"}]
    )
    assert answer.choices[0].message.content == "Hello from openai: x"


def test_streaming_yields_openai_chunks_with_usage(sdk):
    stream = ask(
        sdk, "hello there", stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello from openai: hello there"
    assert len({c.id for c in chunks}) == 1
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens == 18


def test_streaming_without_include_usage_sends_no_usage_chunk(sdk):
    chunks = list(ask(sdk, "hello", stream=True))
    assert all(c.choices for c in chunks)
    assert all(getattr(c, "usage", None) is None for c in chunks)


def test_tool_calls_round_trip(sdk):
    first = ask(sdk, "weather in Paris?", tools=[WEATHER_TOOL])
    call = first.choices[0].message.tool_calls[0]
    assert first.choices[0].finish_reason == "tool_calls"
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}
    second = sdk.chat.completions.create(
        model="gpt-4o-mini",
        tools=[WEATHER_TOOL],
        messages=[
            {"role": "user", "content": "weather in Paris?"},
            first.choices[0].message.model_dump(exclude_none=True),
            {"role": "tool", "tool_call_id": call.id, "content": "sunny, 21C"},
        ],
    )
    assert second.choices[0].message.content == "The tool said: sunny, 21C"


def test_streamed_tool_arguments_arrive_intact(sdk):
    chunks = list(ask(sdk, "weather?", stream=True, tools=[WEATHER_TOOL]))
    args = "".join(
        tc.function.arguments or ""
        for c in chunks
        if c.choices and c.choices[0].delta.tool_calls
        for tc in c.choices[0].delta.tool_calls
    )
    names = [
        tc.function.name
        for c in chunks
        if c.choices and c.choices[0].delta.tool_calls
        for tc in c.choices[0].delta.tool_calls
        if tc.function.name
    ]
    assert json.loads(args) == {"city": "Paris"} and names == ["get_weather"]
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_upstream_rate_limit_passes_through_with_retry_after(sdk):
    with pytest.raises(openai.RateLimitError) as raised:
        ask(sdk, "FAIL 429")
    assert raised.value.response.headers["retry-after"] == "7"


def test_refused_upstream_credentials_are_a_502_not_a_401(sdk):
    with pytest.raises(openai.InternalServerError) as raised:
        ask(sdk, "FAIL 401")
    assert raised.value.status_code == 502
    assert raised.value.body["code"] == "upstream_auth_error"
    assert raised.value.response.headers["x-should-retry"] == "false"
    assert "sk-test-key" not in raised.value.response.text


def test_upstream_5xx_is_a_502(sdk):
    with pytest.raises(openai.InternalServerError) as raised:
        ask(sdk, "FAIL 500")
    assert raised.value.status_code == 502


def test_a_slow_upstream_times_out_as_504(sdk):
    Provider.objects.update(timeout_first_byte=0.3)
    Provider.objects.first().save()
    with pytest.raises(openai.InternalServerError) as raised:
        ask(sdk, "SLOW 3")
    assert raised.value.status_code == 504


def test_a_broken_stream_ends_with_an_error_event(sdk):
    stream = ask(sdk, "BREAK", stream=True)
    with pytest.raises(openai.APIError):
        for _ in stream:
            pass


def test_the_next_provider_is_tried_when_the_first_fails(gateway, world, fake_openai):
    dead = upstreams.register(fake_openai, world.acme, name="dead", priority=1)
    dead.endpoint = "http://127.0.0.1:9/v1"  # nothing listens on the discard port
    dead.save()
    upstreams.register(fake_openai, world.acme, name="alive", priority=2)
    _, secret = ApiKey.issue(organization=world.acme, user=world.bob, name="k")
    client = openai.OpenAI(base_url=gateway.v1, api_key=secret, max_retries=0)
    assert ask(client, "hi").choices[0].message.content == "Hello from openai: hi"
    assert (
        "".join(
            c.choices[0].delta.content or "" for c in ask(client, "yo", stream=True)
        )
        == "Hello from openai: yo"
    )


def test_embeddings(sdk):
    answer = sdk.embeddings.create(model="text-embedding-3-small", input=["a", "b"])
    assert [d.index for d in answer.data] == [0, 1]
    assert len(answer.data[0].embedding) == 4
    with pytest.raises(openai.BadRequestError):
        sdk.embeddings.create(model="gpt-4o-mini", input="a")


def test_every_call_is_recorded_with_tokens_and_cost(sdk, world):
    ask(sdk, "hi")
    with pytest.raises(openai.RateLimitError):
        ask(sdk, "FAIL 429")
    usage.flush()
    ok, failed = UsageRecord.objects.order_by("created_at")
    assert (ok.organization, ok.user, ok.api_key) == (world.acme, world.bob, sdk.key)
    assert (ok.input_tokens, ok.output_tokens, ok.status_code) == (11, 7, 200)
    assert ok.cost == Decimal(11 * 3 + 7 * 15) / Decimal(1_000_000)
    assert ok.provider.name == "openai-fake" and ok.model.model_id == "gpt-4o-mini"
    assert (failed.status_code, failed.error_type) == (429, "upstream_rate_limited")


def test_gateway_limits_answer_429_with_retry_after(sdk):
    sdk.key.requests_per_minute = 1
    sdk.key.save()
    ask(sdk, "one")
    with pytest.raises(openai.RateLimitError) as raised:
        ask(sdk, "two")
    assert raised.value.body["code"] == "rate_limit_exceeded"
    assert 1 <= int(raised.value.response.headers["retry-after"]) <= 60


def test_a_grant_change_takes_effect(sdk, world):
    assert ask(sdk, "hi")
    Grant.objects.filter(organization=world.acme).delete()
    with pytest.raises(openai.NotFoundError):
        ask(sdk, "hi")


def test_bad_requests_get_the_openai_envelope(sdk, gateway):
    import httpx

    headers = {"Authorization": f"Bearer {sdk.api_key}"}
    response = httpx.post(
        f"{gateway.v1}/chat/completions", content=b"{not json", headers=headers
    )
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"
    response = httpx.post(
        f"{gateway.v1}/chat/completions",
        json={"model": "gpt-4o-mini", "messages": []},
        headers=headers,
    )
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "messages"


def test_an_unhealthy_provider_is_tried_last(gateway, world, fake_openai):
    first = upstreams.register(fake_openai, world.acme, name="first", priority=1)
    upstreams.register(fake_openai, world.acme, name="second", priority=2)
    _, secret = ApiKey.issue(organization=world.acme, user=world.bob, name="k")
    client = openai.OpenAI(base_url=gateway.v1, api_key=secret, max_retries=0)

    def served_by() -> str:
        ask(client, "hi")
        usage.flush()
        return UsageRecord.objects.latest("created_at").provider.name

    assert served_by() == "first"
    from providers.health import CheckResult, record

    record(first.pk, CheckResult("unavailable", "down"))
    assert served_by() == "second"
