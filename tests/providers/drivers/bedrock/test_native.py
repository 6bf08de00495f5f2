"""bedrock: ``messages_raw`` with the native Anthropic body for Claude ids,
against the SigV4-checking fake on loopback."""

from __future__ import annotations

import base64
import copy
import json
from typing import Any

import pytest
from django.test import override_settings

from providers.drivers.bedrock.driver import BedrockDriver
from providers.drivers.bedrock.native import (
    ANTHROPIC_VERSION,
    count_body,
    count_model_id,
    input_tokens,
    is_claude,
    native_body,
)
from providers.drivers.passthrough import RawEvent, RawMessage, RawStream
from tests.fakes import bedrock as fake
from tests.fakes.anthropic_features import CACHE_TOKENS, signature
from tests.fakes.server import FakeServer
from tests.providers.drivers.bedrock.support import TOKEN, config, error_of, run

WEATHER = {
    "name": "get_weather",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
}
THINKING = {"type": "enabled", "budget_tokens": 1024}
PROFILE = f"us.{fake.PROFILE_ONLY_MODEL}"


def body(text: str, **extra: Any) -> dict[str, Any]:
    return {
        "model": "my-claude",
        "max_tokens": 2048,
        "messages": [{"role": "user", "content": text}],
        **extra,
    }


def send(
    server: FakeServer,
    sent: dict[str, Any],
    model: str = fake.CHAT_MODEL,
    betas: tuple[str, ...] = (),
) -> RawMessage:
    cfg = config(server.url, token=TOKEN)
    return run(cfg, lambda d, _: d.messages_raw(sent, model, betas=betas))


def collect(
    server: FakeServer, sent: dict[str, Any], events: list[RawEvent]
) -> RawStream:
    async def call(driver: BedrockDriver, _: Any) -> RawStream:
        stream = await driver.messages_raw(sent, PROFILE, stream=True)
        async for event in stream:
            events.append(event)
        return stream

    return run(config(server.url, token=TOKEN), call)


@pytest.mark.parametrize(
    ("model_id", "claude"),
    [
        ("anthropic.claude-3-haiku-20240307-v1:0", True),
        ("us.anthropic.claude-sonnet-4-5-20250929-v1:0", True),
        ("global.anthropic.claude-sonnet-4-5-20250929-v1:0", True),
        (
            "arn:aws:bedrock:us-east-1:123456789012:inference-profile/"
            "eu.anthropic.claude-3-5-sonnet-20240620-v1:0",
            True,
        ),
        ("amazon.titan-embed-text-v2:0", False),
        ("meta.llama3-70b-instruct-v1:0", False),
        ("amazon.nova-pro-v1:0", False),
        ("anthropic.claudeish", False),
    ],
)
def test_claude_ids_take_the_native_body(model_id: str, claude: bool) -> None:
    assert is_claude(model_id) is claude


def test_native_body_drops_model_and_stream_and_carries_version_and_betas() -> None:
    sent = body("hi", stream=True, future_knob={"x": 1}, anthropic_beta=["a"])
    assert native_body(sent, ("b", "a")) == {
        "anthropic_version": ANTHROPIC_VERSION,
        "max_tokens": 2048,
        "messages": [{"role": "user", "content": "hi"}],
        "future_knob": {"x": 1},
        "anthropic_beta": ["a", "b"],
    }
    assert "anthropic_beta" not in native_body(body("hi"))


def test_fields_travel_untouched_in_a_signed_invoke(server: FakeServer) -> None:
    sent = body(
        "weather?",
        system=[
            {
                "type": "text",
                "text": "Be brief.",
                "cache_control": {"type": "ephemeral"},
            }
        ],
        tools=[WEATHER],
        tool_choice={"type": "auto"},
        thinking=THINKING,
        stop_sequences=["END"],
        metadata={"user_id": "user-42"},
    )
    before = copy.deepcopy(sent)
    result = send(server, sent, betas=("interleaved-thinking-2025-05-14",))
    assert sent == before
    seen = server.app["requests"][-1]
    assert seen["path"] == "/model/anthropic.claude-3-haiku-20240307-v1:0/invoke"
    assert seen["headers"]["authorization"].startswith("AWS4-HMAC-SHA256 ")
    expected = {k: v for k, v in before.items() if k != "model"}
    assert seen["json"] == {
        "anthropic_version": "bedrock-2023-05-31",
        **expected,
        "anthropic_beta": ["interleaved-thinking-2025-05-14"],
    }
    thinking, text, tool = result.body["content"]
    assert thinking["signature"] == signature(thinking["thinking"])
    assert text == {"type": "text", "text": "Checking."}
    assert tool["id"].startswith("toolu_bdrk_") and tool["input"] == {"city": "Paris"}
    assert result.body["id"].startswith("msg_bdrk_")
    assert result.request_id == "req-fake-invoke"
    assert (result.usage.input_tokens, result.usage.output_tokens) == (11, 7)
    assert result.usage.cache_creation_input_tokens == CACHE_TOKENS


def test_thinking_round_trip_and_cache_read_on_the_second_call(
    server: FakeServer,
) -> None:
    first_body = body("weather?", tools=[WEATHER], thinking=THINKING)
    first_body["system"] = [
        {"type": "text", "text": "Rules.", "cache_control": {"type": "ephemeral"}}
    ]
    first = send(server, first_body)
    tool_id = first.body["content"][2]["id"]
    follow = copy.deepcopy(first_body)
    follow["messages"] += [
        {"role": "assistant", "content": first.body["content"]},
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": tool_id, "content": "18C"}
            ],
        },
    ]
    second = send(server, follow)
    assert second.body["content"][-1] == {"type": "text", "text": "The tool said: 18C"}
    assert second.usage.cache_read_input_tokens == CACHE_TOKENS
    assert second.usage.cache_creation_input_tokens == 0

    follow["messages"][1]["content"][0]["signature"] = signature("forged")
    err = error_of(lambda: send(server, follow))
    assert err.status == 400
    assert "Invalid `signature` in `thinking` block" in err.message


def test_unknown_and_bedrock_refused_fields_are_mapped_400(server: FakeServer) -> None:
    err = error_of(lambda: send(server, body("hi", future_knob=1)))
    assert (err.status, err.code) == (400, "upstream_invalid_request")
    assert "extraneous key [future_knob] is not permitted" in err.message
    assert server.app["requests"][-1]["json"]["future_knob"] == 1


def test_a_model_that_is_not_claude_is_refused_without_a_call(
    server: FakeServer,
) -> None:
    err = error_of(lambda: send(server, body("hi"), model=fake.TITAN_EMBED))
    assert (err.status, err.type) == (400, "invalid_request_error")
    assert server.app["requests"] == []


@pytest.mark.parametrize("transport", ["aiohttp", "httpx"])
def test_the_stream_relays_the_anthropic_events_in_order(
    server: FakeServer, transport: str
) -> None:
    events: list[RawEvent] = []
    with override_settings(PROVIDERS_HTTP_TRANSPORT=transport):
        stream = collect(server, body("hi there", thinking=THINKING), events)
    seen = server.app["requests"][-1]
    assert seen["path"] == f"/model/{PROFILE}/invoke-with-response-stream"
    assert seen["headers"]["accept"] == "application/vnd.amazon.eventstream"
    assert "stream" not in seen["json"] and "model" not in seen["json"]
    assert [e.event for e in events] == [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "content_block_start",
        "ping",
        "content_block_delta",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    text = "".join(
        e.data["delta"].get("text", "")
        for e in events
        if e.event == "content_block_delta"
    )
    assert text == "Hello from anthropic: hi there"
    sig = events[4].data["delta"]
    assert sig["type"] == "signature_delta" and sig["signature"]
    # Bedrock's own addition to message_stop is kept, as sent
    assert events[-1].data["amazon-bedrock-invocationMetrics"]["inputTokenCount"] == 11
    assert events[-1].sse().startswith(b"event: message_stop\ndata: {")
    assert (stream.usage.input_tokens, stream.usage.output_tokens) == (11, 7)


def test_stream_exception_and_http_errors_are_mapped(server: FakeServer) -> None:
    events: list[RawEvent] = []
    err = error_of(lambda: collect(server, body("STREAM ERROR"), events))
    assert events and events[0].event == "message_start"
    assert err.transient and "ModelStreamErrorException" in err.message
    err = error_of(lambda: collect(server, body("FAIL 429"), []))
    assert (err.status, err.code) == (429, "upstream_rate_limited")
    err = error_of(lambda: send(server, body("FAIL 429")))
    assert (err.status, err.retry_after) == (429, 7.0)


def test_wrong_credentials_fail_the_signature_check(server: FakeServer) -> None:
    cfg = config(server.url, secret="wrong" * 8, token=TOKEN)
    err = error_of(
        lambda: run(cfg, lambda d, _: d.messages_raw(body("hi"), fake.CHAT_MODEL))
    )
    assert err.code == "upstream_auth_error"
    assert "wrong" not in err.message


@pytest.mark.parametrize(
    ("model_id", "counted_as"),
    [
        (
            "anthropic.claude-3-haiku-20240307-v1:0",
            "anthropic.claude-3-haiku-20240307-v1:0",
        ),
        (
            "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
            "anthropic.claude-sonnet-4-5-20250929-v1:0",
        ),
        (
            "global.anthropic.claude-sonnet-4-5-20250929-v1:0",
            "anthropic.claude-sonnet-4-5-20250929-v1:0",
        ),
        # An ARN is counted as given (Bedrock decides; a 400 means an estimate).
        (
            "arn:aws:bedrock:us-east-1:1:inference-profile/us.anthropic.claude-x",
            "arn:aws:bedrock:us-east-1:1:inference-profile/us.anthropic.claude-x",
        ),
    ],
)
def test_a_profile_is_counted_under_its_base_model(
    model_id: str, counted_as: str
) -> None:
    assert count_model_id(model_id) == counted_as


def test_count_body_wraps_the_native_body_it_counts() -> None:
    sent = {"model": "x", "messages": [{"role": "user", "content": "hi"}]}
    wrapped = count_body(sent, ("b",))
    (inner,) = wrapped["input"]["invokeModel"].values()
    assert json.loads(base64.b64decode(inner)) == {
        "anthropic_version": ANTHROPIC_VERSION,
        "messages": sent["messages"],
        "anthropic_beta": ["b"],
        "max_tokens": 1,
    }


@pytest.mark.parametrize(
    "answer", [{}, {"inputTokens": "3"}, {"inputTokens": -1}, [], None]
)
def test_a_count_answer_without_a_count_is_refused(answer: Any) -> None:
    with pytest.raises(ValueError):
        input_tokens(answer)


def test_bedrock_counts_a_claude_body_and_estimates_where_it_cannot(
    server: FakeServer,
) -> None:
    cfg = config(server.url, token=TOKEN)
    sent = {"model": "x", "messages": [{"role": "user", "content": "hi"}]}
    counted = run(cfg, lambda d, _: d.count_tokens_raw(sent, f"us.{fake.CHAT_MODEL}"))
    seen = server.app["requests"][-1]
    assert seen["path"] == f"/model/{fake.CHAT_MODEL}/count-tokens"
    assert counted == 3 + len(json.dumps([None, sent["messages"], None]))
    # Bedrock refuses to count this profile (a 400): None, so the gateway estimates.
    refused = f"us.{fake.PROFILE_ONLY_MODEL}"
    assert run(cfg, lambda d, _: d.count_tokens_raw(sent, refused)) is None
    # Not Claude: nothing is sent.
    calls = len(server.app["requests"])
    assert run(cfg, lambda d, _: d.count_tokens_raw(sent, fake.NOVA_MODEL)) is None
    assert len(server.app["requests"]) == calls
