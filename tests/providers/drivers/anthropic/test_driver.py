"""anthropic: the driver against the fake vendor server on loopback."""

from __future__ import annotations

import json
from typing import Any

import pytest

from providers.drivers.anthropic.driver import AnthropicDriver
from providers.drivers.config import Timeouts
from providers.drivers.errors import DriverError
from providers.health import health_of
from tests.fakes import anthropic as fake
from tests.providers.drivers.anthropic.support import (
    GOOD,
    SECRET,
    chat,
    collect,
    delta,
    joined_content,
    post_fake,
    run,
    text,
    tool_call,
)
from tests.providers.drivers.vectors import WEATHER_TOOL, user


def test_io_text_chat() -> None:
    app = fake.make_app()
    result = run(app, chat({"model": "gw", "messages": [user("hi")]}))
    assert result["choices"][0]["message"] == {
        "role": "assistant",
        "content": "Hello from anthropic: hi",
    }
    assert result["choices"][0]["finish_reason"] == "stop"
    assert result["usage"] == {
        "prompt_tokens": 11,
        "completion_tokens": 7,
        "total_tokens": 18,
        "prompt_tokens_details": {"cached_tokens": 0},
    }
    (recorded,) = app["requests"]
    assert recorded["path"] == "/v1/messages"
    assert recorded["headers"]["x-api-key"] == SECRET
    assert recorded["headers"]["anthropic-version"] == "2023-06-01"
    assert recorded["json"]["model"] == "claude-test"


def test_io_multi_turn_with_system_prompt_and_beta_header() -> None:
    app = fake.make_app()
    request = {
        "messages": [
            {"role": "system", "content": "Be brief."},
            user("first"),
            {"role": "assistant", "content": "ok"},
            user("second"),
        ],
        "temperature": 0.5,
    }
    result = run(app, chat(request), config={"anthropic_beta": "beta-1"})
    assert result["choices"][0]["message"]["content"] == "Hello from anthropic: second"
    sent = app["requests"][0]
    assert sent["json"]["system"] == [text("Be brief.")]
    assert [m["role"] for m in sent["json"]["messages"]] == [
        "user",
        "assistant",
        "user",
    ]
    assert sent["json"]["temperature"] == 0.5
    assert sent["headers"]["anthropic-beta"] == "beta-1"


def test_io_bearer_auth_and_cache_usage() -> None:
    app = fake.make_app(
        bearer_token="oauth-token", cache_read_tokens=5, cache_creation_tokens=3
    )
    result = run(
        app,
        chat({"messages": [user("hi")]}),
        auth_method="bearer",
        api_key="oauth-token",
    )
    assert result["usage"]["prompt_tokens"] == 19
    assert result["usage"]["prompt_tokens_details"] == {
        "cached_tokens": 5,
        "cache_creation_tokens": 3,
    }


def test_io_streaming_text() -> None:
    app = fake.make_app()
    chunks = run(app, collect({"messages": [user("stream please")]}))
    assert chunks[0] == delta({"role": "assistant", "content": ""})
    content_chunks = [
        c for c in chunks if c["choices"] and c["choices"][0]["delta"].get("content")
    ]
    assert len(content_chunks) >= 3
    assert joined_content(chunks) == "Hello from anthropic: stream please"
    assert chunks[-2] == delta({}, "stop")
    assert chunks[-1] == {
        "choices": [],
        "usage": {
            "prompt_tokens": 11,
            "completion_tokens": 7,
            "total_tokens": 18,
            "prompt_tokens_details": {"cached_tokens": 0},
        },
    }
    assert app["requests"][0]["json"]["stream"] is True


def test_io_tools_non_streaming() -> None:
    app = fake.make_app()
    result = run(app, chat({"messages": [user("weather?")], "tools": [WEATHER_TOOL]}))
    choice = result["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] == "Checking."
    (call,) = choice["message"]["tool_calls"]
    assert call["type"] == "function"
    assert call["function"]["name"] == "get_weather"
    assert json.loads(call["function"]["arguments"]) == {"city": "Paris"}
    assert call["id"].startswith("toolu_")


def test_io_tools_streaming() -> None:
    app = fake.make_app()
    chunks = run(
        app, collect({"messages": [user("weather?")], "tools": [WEATHER_TOOL]})
    )
    assert joined_content(chunks) == "Checking."
    calls = [
        tc
        for c in chunks
        if c["choices"]
        for tc in c["choices"][0]["delta"].get("tool_calls", [])
    ]
    assert {tc["index"] for tc in calls} == {0}
    starts = [tc for tc in calls if "id" in tc]
    assert len(starts) == 1
    assert starts[0]["function"]["name"] == "get_weather"
    assert len(calls) >= 3  # start + at least two argument fragments
    arguments = "".join(tc["function"]["arguments"] for tc in calls)
    assert json.loads(arguments) == {"city": "Paris"}
    assert chunks[-2] == delta({}, "tool_calls")
    assert chunks[-1]["usage"]["total_tokens"] == 18


def test_io_tool_result_round_trip() -> None:
    app = fake.make_app()
    messages = [
        user("weather?"),
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [tool_call("call.9:x", "get_weather", '{"city":"Paris"}')],
        },
        {"role": "tool", "tool_call_id": "call.9:x", "content": "22C and sunny"},
    ]
    result = run(app, chat({"messages": messages, "tools": [WEATHER_TOOL]}))
    assert result["choices"][0]["message"]["content"] == "The tool said: 22C and sunny"
    sent = app["requests"][0]["json"]["messages"]
    assert sent[1]["content"][0]["id"] == sent[2]["content"][0]["tool_use_id"]


def test_io_tool_history_without_tools() -> None:
    app = fake.make_app()
    messages = [
        user("weather?"),
        {
            "role": "assistant",
            "tool_calls": [tool_call("call_1", "get_weather", '{"city":"Paris"}')],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "rainy"},
    ]
    result = run(app, chat({"messages": messages}))
    assert result["choices"][0]["message"]["content"] == "The tool said: rainy"
    assert app["requests"][0]["json"]["tool_choice"] == {"type": "none"}


def test_io_length() -> None:
    result = run(fake.make_app(), chat({"messages": [user("LENGTH")]}))
    assert result["choices"][0]["finish_reason"] == "length"
    chunks = run(fake.make_app(), collect({"messages": [user("LENGTH")]}))
    assert chunks[-2] == delta({}, "length")


@pytest.mark.parametrize(
    ("status", "expected_status", "code"),
    [
        (400, 400, "upstream_invalid_request"),
        (401, 502, "upstream_auth_error"),
        (429, 429, "upstream_rate_limited"),
        (500, 502, "upstream_error"),
        (503, 503, "upstream_unavailable"),
        (529, 503, "upstream_overloaded"),
    ],
)
def test_io_error_mapping(status: int, expected_status: int, code: str) -> None:
    request = {"messages": [user(f"FAIL {status}")]}
    for call in (chat(request), collect(request)):
        with pytest.raises(DriverError) as info:
            run(fake.make_app(), call)
        assert (info.value.status, info.value.code) == (expected_status, code)
        if status == 429:
            assert info.value.retry_after == 7.0
        assert SECRET not in info.value.message


def test_io_upstream_validation_error_is_400_with_vendor_message() -> None:
    # a tool result answering no tool call: translated faithfully, refused upstream
    request = {
        "messages": [
            user("hi"),
            {"role": "tool", "tool_call_id": "nope", "content": "x"},
        ],
        "tools": [WEATHER_TOOL],
    }
    with pytest.raises(DriverError) as info:
        run(fake.make_app(), chat(request))
    assert (info.value.status, info.value.code) == (400, "upstream_invalid_request")
    assert (
        "unexpected `tool_use_id` found in `tool_result` blocks" in info.value.message
    )


def test_io_timeout_is_504() -> None:
    with pytest.raises(DriverError) as info:
        run(
            fake.make_app(),
            chat({"messages": [user("SLOW 2")]}),
            timeouts=Timeouts(first_byte=0.2),
        )
    assert (info.value.status, info.value.code) == (504, "upstream_timeout")


def test_io_break_raises_mid_stream() -> None:
    received: list[dict[str, Any]] = []

    async def call(driver: AnthropicDriver) -> None:
        async for chunk in driver.chat_stream(
            {"messages": [user("BREAK")]}, "claude-test"
        ):
            received.append(chunk)

    with pytest.raises(DriverError) as info:
        run(fake.make_app(), call, timeouts=Timeouts(first_byte=5))
    assert info.value.status in (502, 503, 504)
    assert joined_content(received)  # some text arrived before the break


def test_io_stream_error_event() -> None:
    received: list[dict[str, Any]] = []

    async def call(driver: AnthropicDriver) -> None:
        async for chunk in driver.chat_stream(
            {"messages": [user("STREAM ERROR")]}, "claude-test"
        ):
            received.append(chunk)

    with pytest.raises(DriverError) as info:
        run(fake.make_app(), call)
    assert (info.value.status, info.value.code) == (503, "upstream_overloaded")
    assert joined_content(received)


def test_io_stream_can_be_closed_early() -> None:
    async def call(driver: AnthropicDriver) -> dict[str, Any]:
        stream = driver.chat_stream({"messages": [user("hi")]}, "claude-test")
        first = await stream.__anext__()
        await stream.aclose()
        return first

    assert run(fake.make_app(), call) == delta({"role": "assistant", "content": ""})


def test_io_embeddings_are_not_served() -> None:
    async def call(driver: AnthropicDriver) -> Any:
        return await driver.embed({"input": "x"}, "claude-test")

    with pytest.raises(DriverError) as info:
        run(fake.make_app(), call)
    assert info.value.status == 400


def test_io_list_models_paginates() -> None:
    app = fake.make_app(max_page_size=3)

    async def call(driver: AnthropicDriver) -> Any:
        return await driver.list_models()

    models = run(app, call)
    assert [m.model_id for m in models] == [m["id"] for m in fake.DEFAULT_MODELS]
    assert models[0].name == "Claude Sonnet 4.5"
    assert [r["query"] for r in app["requests"]] == [
        {"limit": "1000"},
        {"limit": "1000", "after_id": fake.DEFAULT_MODELS[2]["id"]},
    ]


def test_io_health_check() -> None:
    app = fake.make_app()

    async def call(driver: AnthropicDriver) -> Any:
        return await driver.health_check()

    assert run(app, call) is None
    assert app["requests"][0]["query"] == {"limit": "1"}
    assert app["requests"][0]["path"] == "/v1/models"
    with pytest.raises(DriverError) as info:
        run(fake.make_app(), call, api_key="sk-ant-wrong-key")
    assert (info.value.status, info.value.code) == (502, "upstream_auth_error")
    assert health_of(info.value) == "unavailable"
    assert "sk-ant-wrong-key" not in info.value.message


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({**GOOD, "seed": 1}, "seed: Extra inputs are not permitted"),
        ({"model": "m", "messages": [user("hi")]}, "max_tokens: Field required"),
        (
            {**GOOD, "messages": [{"role": "system", "content": "x"}, user("hi")]},
            'Unexpected role "system"',
        ),
        (
            {**GOOD, "messages": [{"role": "tool", "content": "x"}]},
            "Input should be 'user'",
        ),
        (
            {**GOOD, "messages": [user([text("")])]},
            "text content blocks must be non-empty",
        ),
        ({**GOOD, "messages": [user([text(" ")])]}, "must contain non-whitespace text"),
        (
            {**GOOD, "temperature": 1.5},
            "temperature: Input should be less than or equal",
        ),
        ({**GOOD, "temperature": 0.5, "top_p": 0.5}, "cannot both be specified"),
        (
            {
                **GOOD,
                "tools": [{"name": "f", "input_schema": {"type": "object"}}],
                "messages": [
                    user("hi"),
                    {
                        "role": "assistant",
                        "content": [
                            {"type": "tool_use", "id": "t1", "name": "f", "input": {}}
                        ],
                    },
                    user(
                        [{"type": "tool_result", "tool_use_id": "t2", "content": "x"}]
                    ),
                ],
            },
            "`tool_use` ids were found without `tool_result` blocks",
        ),
        (
            {
                **GOOD,
                "messages": [
                    user("hi"),
                    {
                        "role": "assistant",
                        "content": [
                            {"type": "tool_use", "id": "t1", "name": "f", "input": {}}
                        ],
                    },
                    user(
                        [{"type": "tool_result", "tool_use_id": "t1", "content": "x"}]
                    ),
                ],
            },
            "must define tools",
        ),
    ],
)
def test_fake_rejects_what_anthropic_rejects(
    body: dict[str, Any], message: str
) -> None:
    response = post_fake(body)
    assert response.status_code == 400
    error = response.json()
    assert error["type"] == "error"
    assert error["error"]["type"] == "invalid_request_error"
    assert message in error["error"]["message"]


def test_fake_checks_headers() -> None:
    assert post_fake(GOOD).status_code == 200
    missing_version = post_fake(GOOD, {"anthropic-version": ""})
    assert missing_version.status_code == 400
    assert "anthropic-version" in missing_version.json()["error"]["message"]
    wrong_key = post_fake(GOOD, {"x-api-key": "nope"})
    assert wrong_key.status_code == 401
    assert wrong_key.json()["error"]["type"] == "authentication_error"


def test_io_stream_cut_before_the_message_ends_is_an_error() -> None:
    from aiohttp import web

    async def truncated(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await resp.prepare(request)
        start = {"type": "message_start", "message": {"usage": {"input_tokens": 1}}}
        await resp.write(
            f"event: message_start\ndata: {json.dumps(start)}\n\n".encode()
        )
        await resp.write_eof()  # a clean end of body, but no message_delta/stop
        return resp

    app = web.Application()
    app.router.add_post("/v1/messages", truncated)
    received: list[dict[str, Any]] = []

    async def call(driver: AnthropicDriver) -> None:
        async for chunk in driver.chat_stream({"messages": [user("hi")]}, "m"):
            received.append(chunk)

    with pytest.raises(DriverError) as info:
        run(app, call)
    assert info.value.status == 502
    assert "before the message was complete" in info.value.message
    assert received == [delta({"role": "assistant", "content": ""})]
