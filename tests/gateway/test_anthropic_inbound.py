"""Anthropic's Messages API inbound, driven by the official ``anthropic`` SDK.

The SDK talks to the live gateway (uvicorn on loopback); every vendor's strict
fake serves the model behind it, so each request is translated through the
canonical format and back: text, system, multi-turn, images, tools (plain and
streamed, with tool_result round trips keeping the ids), stop sequences,
max_tokens stops, count_tokens, the models list in Anthropic's shape, errors as
the SDK's own exceptions, a broken stream ending in an ``error`` event, and
tenant isolation (another organization's model answers like a missing one).
"""

from __future__ import annotations

import base64
import json
import time
from contextlib import contextmanager

import anthropic
import httpx
import openai
import pytest

from gateway import messages, usage
from gateway.models import ApiKey, UsageRecord
from tests.gateway import upstreams

# The Anthropic fake's model id is one the SDK warns about; the warning is noise.
pytestmark = pytest.mark.filterwarnings(
    "ignore:The model .* is deprecated:DeprecationWarning"
)

VENDORS = [
    "openai",
    "groq",
    "azure",
    "anthropic",
    "bedrock",
    "bedrock-nova",
    "ollama",
    "gemini",
    # An OpenAI provider on the Responses wire: Messages -> canonical -> Responses.
    "openai-responses",
]
# The vendors whose models take Anthropic's body as sent (the pass-through).
NATIVE = ("anthropic", "bedrock")
TOOL = {
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}
# A 1x1 transparent PNG.
PNG = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
        "0000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
    )
).decode()


@contextmanager
def serving(vendor_name, gateway, world):
    with upstreams.start(vendor_name) as upstream:
        upstreams.register(upstream, world.acme)
        _, secret = ApiKey.issue(organization=world.acme, user=world.bob, name="k")
        sdk = anthropic.Anthropic(base_url=gateway.url, api_key=secret, max_retries=0)
        sdk.secret = secret  # type: ignore[attr-defined]
        yield upstream, sdk


@pytest.fixture(params=VENDORS)
def vendor(request, gateway, world):
    with serving(request.param, gateway, world) as served:
        yield served


@pytest.fixture
def on_openai(gateway, world):
    with serving("openai", gateway, world) as served:
        yield served


@pytest.fixture
def on_anthropic(gateway, world):
    with serving("anthropic", gateway, world) as served:
        yield served


def ask(sdk, upstream, text, **kwargs):
    kwargs.setdefault("max_tokens", 100)
    return sdk.messages.create(
        model=upstream.chat_model,
        messages=[{"role": "user", "content": text}],
        **kwargs,
    )


def sent_upstream(upstream) -> str:
    """The last request the fake received, as text (its shape is the vendor's)."""
    return json.dumps(upstream.requests[-1], default=str)


def test_text_system_and_multi_turn(vendor):
    upstream, sdk = vendor
    answer = sdk.messages.create(
        model=upstream.chat_model,
        max_tokens=50,
        system=[
            {
                "type": "text",
                "text": "Be brief.",
                "cache_control": {"type": "ephemeral"},
            }
        ],
        messages=[
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": [{"type": "text", "text": "second"}]},
        ],
        extra_body={"temperature": 0.5},
    )
    assert answer.id.startswith("msg_") and answer.type == "message"
    assert answer.role == "assistant" and answer.model == upstream.chat_model
    (block,) = answer.content
    assert block.type == "text"
    assert block.text.startswith("Hello from ") and block.text.endswith(": second")
    assert answer.stop_reason == "end_turn" and answer.stop_sequence is None
    # Anthropic's input_tokens leave out cache reads (the Responses fake reports 3).
    prompt = answer.usage.input_tokens + answer.usage.cache_read_input_tokens
    assert prompt >= 11 and answer.usage.output_tokens == 7
    assert "Be brief." in sent_upstream(upstream)
    # Anthropic and Bedrock's Claude take the body as sent: the cache breakpoint
    # travels; a translating vendor has no such thing and never sees it.
    kept = upstream.vendor in NATIVE
    assert ("cache_control" in sent_upstream(upstream)) is kept


def test_streaming_text_follows_anthropics_event_sequence(vendor):
    upstream, sdk = vendor
    with sdk.messages.stream(
        model=upstream.chat_model,
        max_tokens=50,
        messages=[{"role": "user", "content": "stream please"}],
    ) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_message()
    raw = [k for k in kinds if k not in ("text", "ping")]
    assert raw[0] == "message_start" and raw[-2:] == ["message_delta", "message_stop"]
    assert raw[1] == "content_block_start" and raw[-3] == "content_block_stop"
    assert raw.count("content_block_delta") >= 2
    text = final.content[0].text
    assert text.startswith("Hello from ") and text.endswith(": stream please")
    assert final.stop_reason == "end_turn" and final.usage.output_tokens == 7


def test_tool_use_and_tool_result_round_trip_with_ids(vendor):
    upstream, sdk = vendor
    first = ask(sdk, upstream, "weather in Paris?", tools=[TOOL])
    assert first.stop_reason == "tool_use"
    uses = [b for b in first.content if b.type == "tool_use"]
    assert len(uses) == 1 and uses[0].name == "get_weather"
    assert uses[0].input == {"city": "Paris"} and uses[0].id
    second = sdk.messages.create(
        model=upstream.chat_model,
        max_tokens=100,
        tools=[TOOL],
        messages=[
            {"role": "user", "content": "weather in Paris?"},
            # The SDK serialises its own blocks (as agents pass them back).
            {"role": "assistant", "content": first.content},
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": uses[0].id,
                        "content": "sunny",
                    }
                ],
            },
        ],
    )
    assert second.content[0].text == "The tool said: sunny"
    assert second.stop_reason == "end_turn"
    assert uses[0].id in sent_upstream(upstream) or upstream.vendor == "gemini"


def test_streamed_tool_use_arrives_intact_and_round_trips(vendor):
    upstream, sdk = vendor
    with sdk.messages.stream(
        model=upstream.chat_model,
        max_tokens=100,
        tools=[TOOL],
        # Forced everywhere (Ollama by the emulation: providers/drivers/structured).
        tool_choice={"type": "any"},
        messages=[{"role": "user", "content": "weather?"}],
    ) as stream:
        events = list(stream)
        final = stream.get_final_message()
    starts = [e for e in events if e.type == "content_block_start"]
    assert [s.index for s in starts] == list(range(len(starts)))
    (use,) = [b for b in final.content if b.type == "tool_use"]
    assert use.name == "get_weather" and use.input == {"city": "Paris"}
    assert final.stop_reason == "tool_use"
    with sdk.messages.stream(
        model=upstream.chat_model,
        max_tokens=100,
        tools=[TOOL],
        messages=[
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "content": final.content},
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": use.id, "content": "rain"}
                ],
            },
        ],
    ) as stream:
        assert stream.get_final_text() == "The tool said: rain"


def test_an_image_reaches_the_vendor(vendor):
    upstream, sdk = vendor
    answer = sdk.messages.create(
        model=upstream.chat_model,
        max_tokens=50,
        messages=[
            {
                "role": "user",
                "content": [
                    {
                        "type": "image",
                        "source": {
                            "type": "base64",
                            "media_type": "image/png",
                            "data": PNG,
                        },
                    },
                    {"type": "text", "text": "what is it"},
                ],
            }
        ],
    )
    assert answer.content[0].text.endswith(": what is it")
    assert PNG[:40] in sent_upstream(upstream)


def test_stop_sequences_reach_the_vendor(vendor):
    upstream, sdk = vendor
    if upstream.vendor == "openai-responses":
        # The Responses API has no stop sequences: refused, never ignored.
        with pytest.raises(anthropic.BadRequestError, match="stop"):
            ask(sdk, upstream, "hi", stop_sequences=["END!", "STOP!"])
        assert upstream.requests == []
        return
    answer = ask(sdk, upstream, "hi", stop_sequences=["END!", "STOP!"])
    assert answer.stop_reason == "end_turn"
    assert "END!" in sent_upstream(upstream) and "STOP!" in sent_upstream(upstream)


def test_a_max_tokens_stop(vendor):
    upstream, sdk = vendor
    assert ask(sdk, upstream, "LENGTH").stop_reason == "max_tokens"
    # The Responses API takes at least 16: a smaller cap is the vendor's 400,
    # never silently raised (the answer would be longer than asked).
    cap = 16 if upstream.vendor == "openai-responses" else 10
    with sdk.messages.stream(
        model=upstream.chat_model,
        max_tokens=cap,
        messages=[{"role": "user", "content": "LENGTH"}],
    ) as stream:
        assert stream.get_final_message().stop_reason == "max_tokens"
    if upstream.vendor == "openai-responses":
        with pytest.raises(anthropic.BadRequestError, match="max_output_tokens"):
            ask(sdk, upstream, "LENGTH", max_tokens=10)


def test_upstream_errors_are_the_sdks_exceptions(vendor):
    upstream, sdk = vendor
    with pytest.raises(anthropic.RateLimitError) as limited:
        ask(sdk, upstream, "FAIL 429")
    assert limited.value.response.headers["retry-after"] == "7"
    assert limited.value.body["type"] == "error"
    assert limited.value.body["error"]["type"] == "rate_limit_error"
    with pytest.raises(anthropic.InternalServerError) as failed:
        ask(sdk, upstream, "FAIL 500")
    assert failed.value.status_code == 502
    assert failed.value.body["error"]["type"] == "api_error"
    # Before the first byte a stream fails as a real HTTP error, not a 200.
    with pytest.raises(anthropic.RateLimitError):
        sdk.messages.create(
            model=upstream.chat_model,
            max_tokens=20,
            stream=True,
            messages=[{"role": "user", "content": "FAIL 429"}],
        )


def test_a_broken_stream_ends_with_an_error_event(vendor):
    upstream, sdk = vendor
    seen = []
    with (
        pytest.raises(anthropic.APIStatusError) as broken,
        sdk.messages.stream(
            model=upstream.chat_model,
            max_tokens=50,
            messages=[{"role": "user", "content": "BREAK"}],
        ) as stream,
    ):
        seen.extend(event.type for event in stream)
    assert seen[0] == "message_start"
    assert broken.value.body["type"] == "error"
    assert broken.value.body["error"]["type"] in ("api_error", "overloaded_error")
    usage.flush()
    record = UsageRecord.objects.get()
    assert record.endpoint == "messages" and record.status_code >= 500


def test_overloaded_anthropic_is_the_sdks_overloaded_error(on_anthropic):
    upstream, sdk = on_anthropic
    with pytest.raises(anthropic.OverloadedError) as overloaded:
        ask(sdk, upstream, "FAIL 529")
    assert overloaded.value.status_code == 529
    assert overloaded.value.body["error"]["type"] == "overloaded_error"


def test_bad_requests_are_400s_naming_the_field(gateway, on_openai):
    upstream, sdk = on_openai
    with pytest.raises(anthropic.BadRequestError) as thinking:
        ask(sdk, upstream, "hi", thinking={"type": "enabled", "budget_tokens": 2048})
    assert thinking.value.body["error"]["type"] == "invalid_request_error"
    assert "thinking" in thinking.value.body["error"]["message"]
    with pytest.raises(anthropic.BadRequestError) as unknown:
        ask(sdk, upstream, "hi", extra_body={"frobnicate": 1})
    assert "frobnicate" in unknown.value.body["error"]["message"]
    missing = httpx.post(
        f"{gateway.v1}/messages",
        headers={"x-api-key": sdk.secret, "anthropic-version": "2023-06-01"},
        json={
            "model": upstream.chat_model,
            "messages": [{"role": "user", "content": "x"}],
        },
    )
    assert missing.status_code == 400
    assert missing.json()["error"]["type"] == "invalid_request_error"
    assert "max_tokens" in missing.json()["error"]["message"]
    assert upstream.requests == []


def test_a_forced_tool_on_a_vendor_that_cannot_force_one_is_emulated(gateway, world):
    with serving("ollama", gateway, world) as (upstream, sdk):
        answer = ask(
            sdk, upstream, "weather?", tools=[TOOL], tool_choice={"type": "any"}
        )
        (use,) = [b for b in answer.content if b.type == "tool_use"]
        assert use.name == "get_weather" and answer.stop_reason == "tool_use"
        assert "format" in sent_upstream(upstream)
        # A model that ignores the constraint: a 502 naming the failure.
        with pytest.raises(anthropic.APIStatusError) as failed:
            ask(sdk, upstream, "NOCALL", tools=[TOOL], tool_choice={"type": "any"})
        assert failed.value.status_code == 502
        assert "did not comply" in failed.value.body["error"]["message"]


def test_a_bad_key_is_an_authentication_error(gateway, on_openai):
    upstream, _sdk = on_openai
    sdk = anthropic.Anthropic(base_url=gateway.url, api_key="mg-nope", max_retries=0)
    with pytest.raises(anthropic.AuthenticationError) as refused:
        ask(sdk, upstream, "hi")
    assert refused.value.body == {
        "type": "error",
        "error": {
            "type": "authentication_error",
            "message": "Incorrect API key provided.",
        },
    }


def test_x_api_key_authenticates_every_v1_route(gateway, on_openai):
    upstream, sdk = on_openai
    only_x_api_key = {"x-api-key": sdk.secret, "anthropic-version": "2023-06-01"}
    answer = httpx.post(
        f"{gateway.v1}/messages",
        headers=only_x_api_key,
        json={
            "model": upstream.chat_model,
            "max_tokens": 20,
            "messages": [{"role": "user", "content": "hi"}],
        },
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["content"][0]["text"] == "Hello from openai: hi"
    chat = httpx.post(
        f"{gateway.v1}/chat/completions",
        headers={"x-api-key": sdk.secret},
        json={
            "model": upstream.chat_model,
            "messages": [{"role": "user", "content": "x"}],
        },
    )
    assert chat.status_code == 200 and chat.json()["object"] == "chat.completion"
    # Without anthropic-version an OpenAI route answers in OpenAI's envelope.
    refused = httpx.get(f"{gateway.v1}/models", headers={"x-api-key": "mg-wrong"})
    assert (
        refused.status_code == 401
        and refused.json()["error"]["code"] == "invalid_api_key"
    )
    missing = httpx.post(f"{gateway.v1}/messages", json={})
    assert missing.status_code == 401
    assert missing.json()["error"]["type"] == "authentication_error"


def test_count_tokens(on_openai):
    upstream, sdk = on_openai
    short = sdk.messages.count_tokens(
        model=upstream.chat_model, messages=[{"role": "user", "content": "hi"}]
    )
    long = sdk.messages.count_tokens(
        model=upstream.chat_model,
        system="You answer questions about the weather. " * 10,
        tools=[TOOL],
        messages=[{"role": "user", "content": "what is the weather in Paris? " * 20}],
    )
    assert 0 < short.input_tokens < long.input_tokens
    assert upstream.requests == []  # an estimate: nothing sent upstream
    with pytest.raises(anthropic.NotFoundError):
        sdk.messages.count_tokens(
            model="no-such-model", messages=[{"role": "user", "content": "hi"}]
        )


def test_models_list_and_get_in_anthropics_shape(gateway, on_openai):
    upstream, sdk = on_openai
    page = sdk.models.list()
    ids = [m.id for m in page.data]
    assert upstream.chat_model in ids and all(m.type == "model" for m in page.data)
    assert page.first_id == ids[0] and page.last_id == ids[-1] and not page.has_more
    first = sdk.models.list(limit=1)
    assert [m.id for m in first.data] == ids[:1] and first.has_more
    rest = sdk.models.list(after_id=ids[0])
    assert [m.id for m in rest.data] == ids[1:]
    one = sdk.models.retrieve(upstream.chat_model)
    assert one.id == upstream.chat_model and one.display_name == upstream.chat_model
    with pytest.raises(anthropic.NotFoundError):
        sdk.models.retrieve("no-such-model")
    # The OpenAI SDK, sending no anthropic-version, still gets OpenAI's shape.
    oai = openai.OpenAI(base_url=gateway.v1, api_key=sdk.secret, max_retries=0)
    assert upstream.chat_model in [m.id for m in oai.models.list().data]


def test_another_organizations_model_is_not_found(gateway, world):
    with upstreams.start("openai") as upstream:
        upstreams.register(upstream, world.globex)  # charlie's organization's
        _, secret = ApiKey.issue(organization=world.acme, user=world.bob, name="k")
        sdk = anthropic.Anthropic(base_url=gateway.url, api_key=secret, max_retries=0)
        with pytest.raises(anthropic.NotFoundError) as hidden:
            ask(sdk, upstream, "hi")
        with pytest.raises(anthropic.NotFoundError) as missing:
            sdk.messages.create(
                model="no-such-model",
                max_tokens=10,
                messages=[{"role": "user", "content": "hi"}],
            )
        with pytest.raises(anthropic.NotFoundError):
            sdk.messages.count_tokens(
                model=upstream.chat_model, messages=[{"role": "user", "content": "x"}]
            )
        with pytest.raises(anthropic.NotFoundError):
            sdk.models.retrieve(upstream.chat_model)
        assert upstream.chat_model not in [m.id for m in sdk.models.list().data]
        assert upstream.requests == []
    name = upstream.chat_model
    assert hidden.value.body["error"]["message"] == missing.value.body["error"][
        "message"
    ].replace("no-such-model", name)


def test_anthropic_beta_harmless_accepted_others_refused_by_name(on_openai):
    upstream, sdk = on_openai
    fine = ask(
        sdk,
        upstream,
        "hi",
        extra_headers={
            "anthropic-beta": "prompt-caching-2024-07-31,claude-code-20250219"
        },
    )
    assert fine.content[0].text == "Hello from openai: hi"
    with pytest.raises(anthropic.BadRequestError) as refused:
        ask(
            sdk,
            upstream,
            "hi",
            extra_headers={"anthropic-beta": "made-up-feature-2099-01-01"},
        )
    assert "made-up-feature-2099-01-01" in refused.value.body["error"]["message"]
    assert len(upstream.requests) == 1
    # A beta that only unlocks a feature: accepted, and the feature refused by name.
    with pytest.raises(anthropic.BadRequestError) as feature:
        ask(
            sdk,
            upstream,
            "hi",
            extra_headers={"anthropic-beta": "context-management-2025-06-27"},
            extra_body={"context_management": {"edits": []}},
        )
    assert "context_management" in feature.value.body["error"]["message"]
    assert len(upstream.requests) == 1


def test_messages_usage_is_recorded_under_messages(on_openai, world):
    upstream, sdk = on_openai
    ask(sdk, upstream, "hi")
    with sdk.messages.stream(
        model=upstream.chat_model,
        max_tokens=20,
        messages=[{"role": "user", "content": "hello"}],
    ) as stream:
        stream.get_final_message()
    usage.flush()
    records = list(UsageRecord.objects.order_by("created_at"))
    assert [(r.endpoint, r.stream, r.status_code) for r in records] == [
        ("messages", False, 200),
        ("messages", True, 200),
    ]
    assert all(r.input_tokens == 11 and r.output_tokens == 7 for r in records)
    assert all(r.organization == world.acme for r in records)


def test_pings_keep_a_silent_stream_alive(gateway, world, monkeypatch):
    from tests.fakes import openai as fake
    from tests.fakes.server import serve

    monkeypatch.setattr(messages.AnthropicFramer, "ping_interval", 0.1)
    with upstreams.start("openai") as upstream:
        slow = fake.make_app(api_key="sk-test-key", chunk_delay=0.35)
        with serve(slow) as server:
            upstream.endpoint = server.url + "/v1"
            upstreams.register(upstream, world.acme)
            _, secret = ApiKey.issue(organization=world.acme, user=world.bob, name="k")
            with httpx.stream(
                "POST",
                f"{gateway.v1}/messages",
                headers={"x-api-key": secret, "anthropic-version": "2023-06-01"},
                json={
                    "model": upstream.chat_model,
                    "max_tokens": 20,
                    "stream": True,
                    "messages": [{"role": "user", "content": "slowly"}],
                },
            ) as response:
                kinds = [
                    line.removeprefix("event: ")
                    for line in response.iter_lines()
                    if line.startswith("event: ")
                ]
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    assert "ping" in kinds[1:-1]


def test_a_client_disconnect_cancels_the_upstream_while_pinging(
    gateway, world, monkeypatch
):
    from tests.fakes.server import serve
    from tests.gateway.test_hot_path import register_compatible, slow_stream_app

    monkeypatch.setattr(messages.AnthropicFramer, "ping_interval", 0.1)
    events: dict = {}
    with serve(slow_stream_app(30, events)) as fake:
        secret = register_compatible(world, fake.url)
        with httpx.stream(
            "POST",
            f"{gateway.v1}/messages",
            json={
                "model": "slow-model",
                "max_tokens": 20,
                "stream": True,
                "messages": [{"role": "user", "content": "x"}],
            },
            headers={"x-api-key": secret},
            timeout=10,
        ) as response:
            pings = 0
            for line in response.iter_lines():
                pings += line == "event: ping"
                if pings == 3:
                    break
            closed_at = time.monotonic()
        deadline = time.monotonic() + 5
        while "cancelled_at" not in events and time.monotonic() < deadline:
            time.sleep(0.05)
    assert "cancelled_at" in events, "the upstream request was left running"
    assert events["cancelled_at"] - closed_at < 3
    usage.flush()
    record = UsageRecord.objects.get()
    assert (record.endpoint, record.status_code) == ("messages", 499)


def test_the_gateways_own_refusals_use_anthropics_envelope(
    gateway, on_openai, settings
):
    upstream, sdk = on_openai
    headers = {"x-api-key": sdk.secret}
    wrong_method = httpx.get(f"{gateway.v1}/messages", headers=headers)
    assert wrong_method.status_code == 405
    assert wrong_method.json()["type"] == "error"
    unknown = httpx.post(f"{gateway.v1}/messages/batches", headers=headers, json={})
    assert unknown.status_code == 404
    assert unknown.json()["error"]["type"] == "not_found_error"
    settings.GATEWAY_MAX_BODY_BYTES = 1000
    with pytest.raises(anthropic.APIStatusError) as too_large:
        ask(sdk, upstream, "x" * 2000)
    assert too_large.value.status_code == 413
    assert too_large.value.body["error"]["type"] == "request_too_large"
    not_json = httpx.post(
        f"{gateway.v1}/messages",
        headers={**headers, "content-type": "application/json"},
        content=b"{not json",
    )
    assert not_json.status_code == 400
    assert not_json.json()["error"]["type"] == "invalid_request_error"
    assert upstream.requests == []


def test_the_gateways_own_rate_limit_is_a_rate_limit_error(on_openai):
    upstream, sdk = on_openai
    ApiKey.objects.update(requests_per_minute=1)
    ApiKey.objects.get().save()  # invalidates the cached key
    ask(sdk, upstream, "hi")
    with pytest.raises(anthropic.RateLimitError) as limited:
        ask(sdk, upstream, "hi")
    assert int(limited.value.response.headers["retry-after"]) >= 1
    assert limited.value.body["error"]["type"] == "rate_limit_error"
    assert len(upstream.requests) == 1


def test_a_cut_translated_stream_is_billed_an_estimate_with_the_system_prompt(
    on_openai,
):
    # Coding agents send most of their prompt as system blocks: an estimate
    # that counted only the messages would bill a few tokens.
    upstream, sdk = on_openai
    with (
        pytest.raises(anthropic.APIStatusError),
        sdk.messages.stream(
            model=upstream.chat_model,
            max_tokens=50,
            system=[{"type": "text", "text": "s" * 800}],
            messages=[{"role": "user", "content": "BREAK"}],
        ) as stream,
    ):
        list(stream)
    usage.flush()
    record = UsageRecord.objects.get()
    assert record.status_code >= 500 and record.usage_estimated
    assert record.input_tokens >= 200  # 800 characters of system prompt
