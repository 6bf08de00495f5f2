"""anthropic: ``messages_raw`` (the pass-through) against the strict fake."""

from __future__ import annotations

import base64
import copy
from typing import Any

import pytest

from providers.drivers.anthropic.driver import AnthropicDriver
from providers.drivers.anthropic.raw import raw_body, split_betas
from providers.drivers.errors import DriverError
from providers.drivers.passthrough import RawEvent, RawMessage, RawStream
from tests.fakes import anthropic as fake
from tests.fakes.anthropic_features import CACHE_TOKENS, signature
from tests.providers.drivers.anthropic.support import SECRET, run

MODEL = "claude-sonnet-4-5-20250929"
PDF = base64.b64encode(b"%PDF-1.4 fake").decode()
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\nfake").decode()
WEATHER = {
    "name": "get_weather",
    "description": "Weather in a city",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
    "cache_control": {"type": "ephemeral"},
}
THINKING = {"type": "enabled", "budget_tokens": 1024}


def everything() -> dict[str, Any]:
    """A body using every field the pass-through must keep, in a client's order."""
    return {
        "model": "my-claude",  # the gateway name: replaced by the provider's id
        "max_tokens": 2048,
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
                    {
                        "type": "document",
                        "source": {
                            "type": "base64",
                            "media_type": "application/pdf",
                            "data": PDF,
                        },
                        "title": "Report",
                        "context": "Quarterly",
                        "citations": {"enabled": True},
                    },
                    {
                        "type": "image",
                        "source": {
                            "type": "base64",
                            "media_type": "image/png",
                            "data": PNG,
                        },
                    },
                    {
                        "type": "text",
                        "text": "weather?",
                        "cache_control": {"type": "ephemeral", "ttl": "1h"},
                    },
                ],
            }
        ],
        "tools": [WEATHER],
        "tool_choice": {"type": "auto", "disable_parallel_tool_use": True},
        "thinking": THINKING,
        "stop_sequences": ["END"],
        "metadata": {"user_id": "user-42"},
        "service_tier": "standard_only",
    }


def send(body: dict[str, Any], betas: tuple[str, ...] = (), model: str = MODEL) -> Any:
    async def call(driver: AnthropicDriver) -> RawMessage:
        return await driver.messages_raw(body, model, betas=betas)

    return call


def collect(body: dict[str, Any], out: list[RawEvent] | None = None) -> Any:
    async def call(driver: AnthropicDriver) -> RawStream:
        stream = await driver.messages_raw(body, MODEL, stream=True)
        async for event in stream:
            if out is not None:
                out.append(event)
        return stream

    return call


def test_raw_body_replaces_only_the_model_and_sets_stream() -> None:
    body = {"stream": True, "model": "gw", "zzz_future": {"a": [1]}, "max_tokens": 5}
    assert raw_body(body, "claude-x", False) == {
        "stream": False,
        "model": "claude-x",
        "zzz_future": {"a": [1]},
        "max_tokens": 5,
    }
    assert list(raw_body(body, "claude-x", True)) == list(body)  # order kept
    assert raw_body({"model": "gw"}, "claude-x", True) == {
        "model": "claude-x",
        "stream": True,
    }
    assert body["model"] == "gw"  # the caller's dict is not changed
    assert split_betas(["a, b", "b", " ", "c"]) == ["a", "b", "c"]


def test_every_field_travels_untouched_and_the_answer_comes_back_as_sent() -> None:
    app = fake.make_app()
    body = everything()
    before = copy.deepcopy(body)
    result = run(
        app,
        send(body, betas=("files-api-2025-04-14", "beta-1")),
        config={"anthropic_beta": "beta-1"},
    )
    assert body == before
    (sent,) = app["requests"]
    assert sent["json"] == {**before, "model": MODEL}
    assert list(sent["json"]) == list(before)
    headers = sent["headers"]
    assert headers["x-api-key"] == SECRET
    assert headers["anthropic-version"] == "2023-06-01"
    assert headers["anthropic-beta"] == "beta-1,files-api-2025-04-14"
    answer = result.body
    assert answer["id"].startswith("msg_01") and answer["model"] == MODEL
    thinking, text, tool = answer["content"]
    assert thinking == {
        "type": "thinking",
        "thinking": "The user wrote 'weather?'.",
        "signature": signature("The user wrote 'weather?'."),
    }
    assert text == {"type": "text", "text": "Checking."}
    assert tool["type"] == "tool_use" and tool["input"] == {"city": "Paris"}
    assert answer["usage"]["service_tier"] == "standard"  # vendor fields kept
    assert result.request_id and result.request_id.startswith("req_")
    usage = result.usage
    assert (usage.input_tokens, usage.output_tokens) == (11, 7)
    assert (usage.cache_creation_input_tokens, usage.cache_read_input_tokens) == (
        CACHE_TOKENS,
        0,
    )
    assert usage.canonical()["prompt_tokens"] == 11 + CACHE_TOKENS


def test_thinking_signatures_round_trip_and_a_tampered_one_is_refused() -> None:
    app = fake.make_app()
    body = {
        "model": "gw",
        "max_tokens": 2048,
        "thinking": THINKING,
        "tools": [WEATHER],
        "messages": [{"role": "user", "content": "weather in Paris?"}],
    }

    async def call(driver: AnthropicDriver) -> tuple[RawMessage, RawMessage]:
        first = await driver.messages_raw(body, MODEL)
        tool_id = first.body["content"][2]["id"]
        result = {"type": "tool_result", "tool_use_id": tool_id, "content": "18C"}
        follow = {
            **body,
            "messages": [
                *body["messages"],
                {"role": "assistant", "content": first.body["content"]},
                {"role": "user", "content": [result]},
            ],
        }
        second = await driver.messages_raw(follow, MODEL)
        return first, second

    first, second = run(app, call)
    assert app["requests"][1]["json"]["messages"][1]["content"] == first.body["content"]
    assert second.body["content"][-1] == {"type": "text", "text": "The tool said: 18C"}
    assert second.usage.cache_creation_input_tokens == 0  # no cache_control sent

    tampered = copy.deepcopy(app["requests"][1]["json"])
    tampered["messages"][1]["content"][0]["signature"] = signature("something else")
    with pytest.raises(DriverError) as info:
        run(fake.make_app(), send(tampered))
    assert info.value.status == 400
    assert "Invalid `signature` in `thinking` block" in info.value.message

    reordered = copy.deepcopy(app["requests"][1]["json"])
    blocks = reordered["messages"][1]["content"]
    blocks.append(blocks.pop(0))  # thinking after the tool call: wrong order
    with pytest.raises(DriverError) as info:
        run(fake.make_app(), send(reordered))
    assert "must start with a thinking block" in info.value.message


def test_cache_control_is_written_then_read() -> None:
    app = fake.make_app()
    body = {
        "model": "gw",
        "max_tokens": 100,
        "system": [
            {
                "type": "text",
                "text": "Long rules.",
                "cache_control": {"type": "ephemeral"},
            }
        ],
        "messages": [{"role": "user", "content": "hi"}],
    }

    async def call(driver: AnthropicDriver) -> list[RawMessage]:
        return [await driver.messages_raw(body, MODEL) for _ in range(2)]

    written, read = run(app, call)
    assert (
        written.usage.cache_creation_input_tokens,
        written.usage.cache_read_input_tokens,
    ) == (CACHE_TOKENS, 0)
    assert (
        read.usage.cache_creation_input_tokens,
        read.usage.cache_read_input_tokens,
    ) == (0, CACHE_TOKENS)
    assert read.body["usage"]["cache_read_input_tokens"] == CACHE_TOKENS
    assert read.usage.canonical()["prompt_tokens_details"] == {
        "cached_tokens": CACHE_TOKENS
    }


def test_unknown_fields_are_sent_and_the_vendor_answer_is_mapped() -> None:
    app = fake.make_app()
    body = {
        "model": "gw",
        "max_tokens": 10,
        "messages": [{"role": "user", "content": "hi"}],
        "future_knob": 1,
    }
    with pytest.raises(DriverError) as info:
        run(app, send(body))
    assert app["requests"][0]["json"]["future_knob"] == 1
    assert (info.value.status, info.value.code) == (400, "upstream_invalid_request")
    assert "future_knob: Extra inputs are not permitted" in info.value.message


@pytest.mark.parametrize(
    ("status", "expected_status", "code"),
    [
        (401, 502, "upstream_auth_error"),
        (429, 429, "upstream_rate_limited"),
        (529, 503, "upstream_overloaded"),
    ],
)
def test_vendor_errors_are_mapped_before_the_first_event(
    status: int, expected_status: int, code: str
) -> None:
    body = {
        "model": "gw",
        "max_tokens": 10,
        "messages": [{"role": "user", "content": f"FAIL {status}"}],
    }
    for call in (send(body), collect(body)):
        with pytest.raises(DriverError) as info:
            run(fake.make_app(), call)
        assert (info.value.status, info.value.code) == (expected_status, code)
        assert SECRET not in info.value.message
        if status == 429:
            assert info.value.retry_after == 7.0


def test_stream_relays_every_event_in_order_with_usage() -> None:
    app = fake.make_app()
    body = everything()
    events: list[RawEvent] = []
    stream = run(app, collect(body, events))
    assert app["requests"][0]["json"] == {**body, "model": MODEL, "stream": True}
    headers = {k.lower(): v for k, v in app["requests"][0]["headers"].items()}
    assert headers["accept"] == "text/event-stream"
    names = [e.event for e in events]
    assert names == [
        "message_start",
        "content_block_start",  # 0 thinking
        "content_block_delta",
        "content_block_delta",
        "content_block_delta",  # signature_delta
        "content_block_stop",
        "content_block_start",  # 1 text
        "ping",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "content_block_start",  # 2 tool_use
        "content_block_delta",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert all(e.data["type"] == e.event for e in events)
    thought = "".join(e.data["delta"].get("thinking", "") for e in events[2:4])
    assert events[4].data["delta"] == {
        "type": "signature_delta",
        "signature": signature(thought),
    }
    assert events[12].data["delta"] == {"type": "input_json_delta", "partial_json": ""}
    assert (
        events[0].sse() == f"event: message_start\ndata: {events[0].text}\n\n".encode()
    )
    usage = stream.usage
    assert (usage.input_tokens, usage.output_tokens) == (11, 7)
    assert usage.cache_creation_input_tokens == CACHE_TOKENS


def test_stream_error_event_and_cut_stream_raise_after_the_events_before_them() -> None:
    for trigger, status in (("STREAM ERROR", 503), ("BREAK", None)):
        events: list[RawEvent] = []
        body = {
            "model": "gw",
            "max_tokens": 10,
            "messages": [{"role": "user", "content": trigger}],
        }
        with pytest.raises(DriverError) as info:
            run(fake.make_app(), collect(body, events))
        assert events[0].event == "message_start"
        assert any(e.event == "content_block_delta" for e in events)
        assert info.value.transient
        if status:
            assert (info.value.status, info.value.code) == (
                status,
                "upstream_overloaded",
            )


def test_stream_closed_early_closes_the_upstream() -> None:
    async def call(driver: AnthropicDriver) -> RawEvent:
        body = {
            "model": "gw",
            "max_tokens": 10,
            "messages": [{"role": "user", "content": "hi"}],
        }
        stream = await driver.messages_raw(body, MODEL, stream=True)
        first = await anext(aiter(stream))
        await stream.aclose()
        return first

    assert run(fake.make_app(), call).event == "message_start"
