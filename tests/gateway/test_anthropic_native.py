"""The Messages pass-through: Anthropic and Bedrock's Claude take the body as sent.

Driven by the official ``anthropic`` SDK through the live gateway, against the
strict Anthropic fake and the Bedrock fake's native Anthropic body (both check
thinking signatures, cache breakpoints, block order and unknown fields as the
real APIs do): the body arrives as the client wrote it with only the model id
replaced, extended thinking round-trips its signatures (plain and streamed),
prompt caching writes then reads, betas travel, count_tokens is the vendor's
own count, and a request only the pass-through can serve (thinking) skips a
translating candidate of the same name instead of failing on it.
"""

from __future__ import annotations

import base64
import json
import time
from contextlib import contextmanager
from decimal import Decimal

import anthropic
import httpx
import pytest

from gateway import native as gateway_native
from gateway import usage
from gateway.models import ApiKey, UsageRecord
from models_catalog.models import AIModel
from tests.fakes import anthropic as anthropic_fake
from tests.fakes.anthropic_features import CACHE_TOKENS
from tests.gateway import upstreams

pytestmark = pytest.mark.filterwarnings(
    "ignore:The model .* is deprecated:DeprecationWarning"
)

ALIAS = "house-claude"
TOOL = {
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}
THINKING = {"type": "enabled", "budget_tokens": 1024}


@contextmanager
def serving(vendor_name, gateway, world):
    """The vendor's fake behind the alias ``ALIAS``, and an SDK for bob's key."""
    with upstreams.start(vendor_name) as upstream:
        upstreams.register(upstream, world.acme)
        AIModel.objects.filter(model_id=upstream.chat_model).update(
            alias=ALIAS,
            cache_read_cost_per_million=Decimal("0.30"),
            cache_write_cost_per_million=Decimal("3.75"),
        )
        _, secret = ApiKey.issue(organization=world.acme, user=world.bob, name="k")
        sdk = anthropic.Anthropic(base_url=gateway.url, api_key=secret, max_retries=0)
        yield upstream, sdk


@pytest.fixture(params=["anthropic", "bedrock"])
def native(request, gateway, world):
    with serving(request.param, gateway, world) as served:
        yield served


def sent(upstream) -> dict:
    """The Anthropic body the vendor received (Bedrock's native body unwrapped)."""
    body = dict(upstream.requests[-1]["json"])
    if upstream.vendor == "bedrock":
        assert body.pop("anthropic_version") == "bedrock-2023-05-31"
    return body


def records() -> list[UsageRecord]:
    usage.flush()
    return list(UsageRecord.objects.order_by("created_at", "id"))


def test_the_body_arrives_as_sent_with_only_the_model_replaced(native):
    upstream, sdk = native
    doc = {"type": "text", "media_type": "text/plain", "data": "Paris is sunny."}
    body = {
        "max_tokens": 300,
        "system": [
            {
                "type": "text",
                "text": "Be brief.",
                "cache_control": {"type": "ephemeral"},
            }
        ],
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "document", "source": doc, "title": "weather"},
                    {"type": "text", "text": "Summarise."},
                ],
            }
        ],
        "metadata": {"user_id": "agent-7"},
        "stop_sequences": ["\n\nHuman:"],
        "service_tier": "auto",
    }
    # Fields this SDK has no parameter for travel too (it sends them as given).
    later = {"top_k": 5}
    answer = sdk.messages.create(model=ALIAS, extra_body=later, **body)
    body.update(later)
    assert answer.model == ALIAS
    assert answer.content[0].text == "Hello from anthropic: Summarise."
    received = sent(upstream)
    if upstream.vendor == "bedrock":
        assert "model" not in received and "stream" not in received
        assert received == body
    else:
        assert received == {"model": upstream.chat_model, **body}


def test_extended_thinking_round_trips_its_signature(native, world):
    upstream, sdk = native
    ask = {"role": "user", "content": "weather in Paris?"}
    first = sdk.messages.create(
        model=ALIAS, max_tokens=2048, thinking=THINKING, tools=[TOOL], messages=[ask]
    )
    kinds = [block.type for block in first.content]
    assert kinds == ["thinking", "text", "tool_use"]
    assert first.content[0].signature and first.stop_reason == "tool_use"
    (use,) = [b for b in first.content if b.type == "tool_use"]
    # The fake checks the thinking block's signature and that the tool turn
    # opens with it: a thinking block lost or altered on the way is a 400.
    second = sdk.messages.create(
        model=ALIAS,
        max_tokens=2048,
        thinking=THINKING,
        tools=[TOOL],
        messages=[
            ask,
            {"role": "assistant", "content": first.content},
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": use.id, "content": "sunny"}
                ],
            },
        ],
    )
    assert second.content[-1].text == "The tool said: sunny"
    assert sent(upstream)["messages"][1]["content"][0]["signature"] == (
        first.content[0].signature
    )


def test_streamed_thinking_arrives_as_anthropic_sends_it(native):
    upstream, sdk = native
    with sdk.messages.stream(
        model=ALIAS,
        max_tokens=2048,
        thinking=THINKING,
        messages=[{"role": "user", "content": "think first"}],
    ) as stream:
        deltas = [e.delta.type for e in stream if e.type == "content_block_delta"]
        final = stream.get_final_message()
    assert "thinking_delta" in deltas and "signature_delta" in deltas
    assert final.model == ALIAS
    thinking, text = final.content
    assert thinking.type == "thinking" and thinking.thinking == (
        "The user wrote 'think first'."
    )
    assert thinking.signature and text.text == "Hello from anthropic: think first"
    assert sent(upstream)["thinking"] == THINKING


@pytest.mark.parametrize("stream", [False, True])
def test_prompt_caching_writes_then_reads_and_is_recorded(native, stream):
    _, sdk = native
    system = [
        {
            "type": "text",
            "text": "A long manual.",
            "cache_control": {"type": "ephemeral"},
        }
    ]

    def call(text):
        kwargs = {
            "model": ALIAS,
            "max_tokens": 50,
            "system": system,
            "messages": [{"role": "user", "content": text}],
        }
        if not stream:
            return sdk.messages.create(**kwargs).usage
        with sdk.messages.stream(**kwargs) as events:
            return events.get_final_message().usage

    written, read = call("first"), call("first")
    assert written.cache_creation_input_tokens == CACHE_TOKENS
    assert read.cache_read_input_tokens == CACHE_TOKENS
    assert written.input_tokens == read.input_tokens == anthropic_fake.INPUT_TOKENS
    first, second = records()
    for record in (first, second):
        assert record.endpoint == "messages" and record.status_code == 200
        assert record.stream is stream and not record.usage_estimated
        assert record.input_tokens == anthropic_fake.INPUT_TOKENS + CACHE_TOKENS
    assert (first.cache_creation_tokens, first.cache_read_tokens) == (CACHE_TOKENS, 0)
    assert (second.cache_creation_tokens, second.cache_read_tokens) == (0, CACHE_TOKENS)
    # Billed at the model's cache prices: a write dearer, a read cheaper than input.
    uncached = anthropic_fake.INPUT_TOKENS * 3 + 7 * 15
    assert first.cost * 10**6 == uncached + CACHE_TOKENS * Decimal("3.75")
    assert second.cost * 10**6 == uncached + CACHE_TOKENS * Decimal("0.30")


@pytest.mark.parametrize("stream", [False, True])
def test_a_stop_sequence_stop_names_the_sequence(native, stream):
    _, sdk = native
    kwargs = {
        "model": ALIAS,
        "max_tokens": 50,
        "stop_sequences": ["never", "from"],
        "messages": [{"role": "user", "content": "hi"}],
    }
    if stream:
        with sdk.messages.stream(**kwargs) as events:
            answer = events.get_final_message()
    else:
        answer = sdk.messages.create(**kwargs)
    assert answer.content[0].text == "Hello "
    assert answer.stop_reason == "stop_sequence" and answer.stop_sequence == "from"


def test_betas_reach_the_vendor(native):
    upstream, sdk = native
    betas = ["interleaved-thinking-2025-05-14", "a-future-beta-2026-01-01"]
    answer = sdk.beta.messages.create(
        model=ALIAS,
        max_tokens=50,
        betas=betas,
        messages=[{"role": "user", "content": "hi"}],
    )
    assert answer.content[0].text == "Hello from anthropic: hi"
    request = upstream.requests[-1]
    if upstream.vendor == "bedrock":
        assert request["json"]["anthropic_beta"] == betas
    else:
        assert request["headers"]["anthropic-beta"] == ",".join(betas)


def test_count_tokens_is_the_vendors_own_count(native):
    upstream, sdk = native
    body = {
        "system": "Be brief.",
        "messages": [{"role": "user", "content": "How many tokens is this?"}],
        "tools": [TOOL],
    }
    counted = sdk.messages.count_tokens(model=ALIAS, **body)
    assert counted.input_tokens == anthropic_fake.count_of(body)
    request = upstream.requests[-1]
    if upstream.vendor == "bedrock":
        assert request["path"].endswith("/count-tokens")
        invoke = request["json"]["input"]["invokeModel"]["body"]
        native_body = json.loads(base64.b64decode(invoke))
        assert native_body["messages"] == body["messages"]
    else:
        assert request["path"] == "/v1/messages/count_tokens"
        assert request["json"] == {"model": upstream.chat_model, **body}
    with pytest.raises(anthropic.BadRequestError, match="max_tokens"):
        sdk.messages.count_tokens(model=ALIAS, extra_body={"max_tokens": 5}, **body)


def test_a_bedrock_profile_is_counted_under_its_base_model(gateway, world):
    from tests.fakes import bedrock as fake

    with serving("bedrock", gateway, world) as (upstream, sdk):
        AIModel.objects.filter(model_id=upstream.chat_model).update(
            model_id=f"us.{fake.CHAT_MODEL}"
        )
        counted = sdk.messages.count_tokens(
            model=ALIAS, messages=[{"role": "user", "content": "hi"}]
        )
    assert counted.input_tokens == anthropic_fake.count_of(
        {"messages": [{"role": "user", "content": "hi"}]}
    )
    assert f"/model/{fake.CHAT_MODEL}/count-tokens" in upstream.requests[-1]["path"]


def test_thinking_skips_a_translating_candidate_of_the_same_name(gateway, world):
    with (
        upstreams.start("openai") as openai_up,
        upstreams.start("anthropic") as anthropic_up,
    ):
        upstreams.register(openai_up, world.acme, priority=1)
        upstreams.register(anthropic_up, world.acme, priority=2)
        AIModel.objects.filter(
            model_id__in=[openai_up.chat_model, anthropic_up.chat_model]
        ).update(alias=ALIAS)
        _, secret = ApiKey.issue(organization=world.acme, user=world.bob, name="k")
        sdk = anthropic.Anthropic(base_url=gateway.url, api_key=secret, max_retries=0)
        plain = sdk.messages.create(
            model=ALIAS, max_tokens=50, messages=[{"role": "user", "content": "hi"}]
        )
        thought = sdk.messages.create(
            model=ALIAS,
            max_tokens=2048,
            thinking=THINKING,
            messages=[{"role": "user", "content": "hi"}],
        )
        # The first candidate translates: it serves what it can.
        assert plain.content[0].text == "Hello from openai: hi"
        # Thinking cannot be translated: only the pass-through serves it.
        assert [b.type for b in thought.content] == ["thinking", "text"]
        assert len(openai_up.requests) == 1 and len(anthropic_up.requests) == 1


def test_thinking_on_a_translating_vendor_alone_is_a_400_naming_it(gateway, world):
    with upstreams.start("openai") as upstream:
        upstreams.register(upstream, world.acme)
        _, secret = ApiKey.issue(organization=world.acme, user=world.bob, name="k")
        sdk = anthropic.Anthropic(base_url=gateway.url, api_key=secret, max_retries=0)
        with pytest.raises(anthropic.BadRequestError, match="thinking"):
            sdk.messages.create(
                model=upstream.chat_model,
                max_tokens=2048,
                thinking=THINKING,
                messages=[{"role": "user", "content": "hi"}],
            )
        assert upstream.requests == []
        assert records() == []


def test_a_client_disconnect_cancels_the_vendors_stream(native, gateway, monkeypatch):
    upstream, sdk = native
    monkeypatch.setattr(gateway_native.NativeFramer, "ping_interval", 0.1)
    with httpx.stream(
        "POST",
        f"{gateway.v1}/messages",
        json={
            "model": ALIAS,
            "max_tokens": 20,
            "stream": True,
            "messages": [{"role": "user", "content": "STALL"}],
        },
        headers={"x-api-key": sdk.api_key, "anthropic-version": "2023-06-01"},
        timeout=10,
    ) as response:
        pings = 0
        for line in response.iter_lines():
            pings += line == "event: ping"
            if pings == 3:
                break
        closed_at = time.monotonic()
    events = upstream.server.app["events"]
    deadline = time.monotonic() + 5
    while "cancelled_at" not in events and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "cancelled_at" in events, "the vendor's stream was left running"
    assert events["cancelled_at"] - closed_at < 3
    (record,) = records()
    assert (record.endpoint, record.status_code) == ("messages", 499)
    assert record.input_tokens == anthropic_fake.INPUT_TOKENS  # from message_start


def test_the_vendors_refusals_are_the_sdks_exceptions(native):
    upstream, sdk = native
    # A field the gateway does not know travels; the vendor judges it.
    with pytest.raises(anthropic.BadRequestError, match="future_knob"):
        sdk.messages.create(
            model=ALIAS,
            max_tokens=20,
            messages=[{"role": "user", "content": "hi"}],
            extra_body={"future_knob": True},
        )
    assert sent(upstream)["future_knob"] is True
    # The provider not knowing its own model is the gateway's configuration
    # failing, not the caller's request: a 502, as on every other route.
    with pytest.raises(anthropic.InternalServerError) as missing:
        sdk.messages.create(
            model=ALIAS,
            max_tokens=20,
            messages=[{"role": "user", "content": "FAIL 404"}],
        )
    assert missing.value.status_code == 502
    assert [r.status_code for r in records()] == [400, 502]
