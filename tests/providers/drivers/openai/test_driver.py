"""openai: the driver against the fake vendor server on loopback."""

from __future__ import annotations

import asyncio
import base64
import json
import struct
from typing import Any

import httpx
import pytest

from providers.drivers.config import Timeouts
from providers.drivers.errors import DriverError
from providers.drivers.openai.driver import OpenAIDriver
from providers.health import health_of
from tests.fakes import openai as fake
from tests.fakes.server import serve
from tests.providers.drivers.openai.support import (
    KEY,
    TOOLS,
    cfg,
    collect,
    expect_error,
    finishes,
    run,
    text_of,
    tool_calls_of,
    with_driver,
)
from tests.providers.drivers.vectors import user


def test_fake_rejects_what_openai_rejects() -> None:
    async def go(client: httpx.AsyncClient, url: str) -> list[httpx.Response]:
        auth = {"Authorization": f"Bearer {KEY}"}
        good = {"model": "gpt-4o-mini", "messages": [user("hi")]}
        bodies = [
            {**good, "bogus": 1},
            {**good, "stream_options": {"include_usage": True}},
            {
                **good,
                "messages": [{"role": "tool", "tool_call_id": "x", "content": "r"}],
            },
            {**good, "messages": []},
            {**good, "messages": [{"role": "bot", "content": "x"}]},
            {"messages": [user("hi")]},
            {**good, "model": "o3-mini", "max_tokens": 5},
        ]
        out = [
            await client.post(f"{url}/chat/completions", json=b, headers=auth)
            for b in bodies
        ]
        out.append(await client.post(f"{url}/chat/completions", json=good))
        out.append(
            await client.post(
                f"{url}/chat/completions",
                json=good,
                headers={"Authorization": "Bearer no"},
            )
        )
        return out

    with serve(fake.make_app(api_key=KEY)) as server:
        responses = run(lambda c: go(c, server.url + "/v1"))
    statuses = [r.status_code for r in responses]
    assert statuses == [400, 400, 400, 400, 400, 400, 400, 401, 401]
    errors = [r.json()["error"] for r in responses]
    assert errors[0] == {
        "message": "Unrecognized request argument supplied: bogus",
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }
    assert errors[1]["param"] == "stream_options"
    assert "preceeding message with 'tool_calls'" in errors[2]["message"]
    assert errors[3]["code"] == "empty_array"
    assert errors[4]["param"] == "messages[0].role"
    assert errors[6]["code"] == "unsupported_parameter"
    assert errors[8]["code"] == "invalid_api_key"


def test_chat_text() -> None:
    request = {"model": "my-alias", "messages": [user("hi there")]}
    answer, requests = with_driver(lambda d: d.chat(request, "gpt-4o-mini"))
    assert answer["object"] == "chat.completion"
    assert answer["choices"][0]["message"]["content"] == "Hello from openai: hi there"
    assert answer["choices"][0]["finish_reason"] == "stop"
    assert answer["usage"]["prompt_tokens"] == 11
    assert answer["usage"]["completion_tokens"] == 7
    assert answer["usage"]["total_tokens"] == 18
    sent = requests[0]
    assert sent["path"] == "/v1/chat/completions"
    assert sent["headers"]["Authorization"] == f"Bearer {KEY}"
    assert sent["json"] == {"model": "gpt-4o-mini", "messages": [user("hi there")]}


def test_chat_multi_turn_with_system_prompt() -> None:
    messages = [
        {"role": "system", "content": "You are terse."},
        user("first"),
        {"role": "assistant", "content": "ok"},
        {"role": "developer", "content": "Answer in English."},
        user("second"),
    ]
    request = {"messages": messages, "temperature": 0.3}
    answer, requests = with_driver(lambda d: d.chat(request, "gpt-4o"))
    assert answer["choices"][0]["message"]["content"] == "Hello from openai: second"
    assert requests[0]["json"]["messages"] == messages
    assert requests[0]["json"]["temperature"] == 0.3


def test_chat_stream_text() -> None:
    request = {"messages": [user("stream me")], "stream": True}
    chunks, requests = with_driver(lambda d: collect(d, request))
    assert requests[0]["json"]["stream_options"] == {"include_usage": True}
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    content = [
        c for c in chunks if c["choices"] and c["choices"][0]["delta"].get("content")
    ]
    assert len(content) >= 3
    assert text_of(chunks) == "Hello from openai: stream me"
    assert finishes(chunks) == ["stop"]
    assert chunks[-1] == {
        "choices": [],
        "usage": {
            "prompt_tokens": 11,
            "completion_tokens": 7,
            "total_tokens": 18,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
        },
    }
    assert all("id" not in c and "model" not in c for c in chunks)


def test_chat_stream_length() -> None:
    chunks, _ = with_driver(lambda d: collect(d, {"messages": [user("LENGTH")]}))
    assert finishes(chunks) == ["length"]


def test_stream_usage_off_for_a_preset_that_rejects_stream_options() -> None:
    request = {"messages": [user("hi")], "stream_options": {"include_usage": True}}
    chunks, requests = with_driver(
        lambda d: collect(d, request),
        {"quirks": ["reject_stream_options"]},
        stream_usage=False,
    )
    assert "stream_options" not in requests[0]["json"]
    assert text_of(chunks) == "Hello from openai: hi"
    assert all(c["choices"] for c in chunks)  # the upstream reported no usage
    err = expect_error(
        lambda d: collect(d, request), {"quirks": ["reject_stream_options"]}
    )
    assert err.status == 400 and err.param == "stream_options"


def test_chat_stream_from_a_quirky_compatible_server() -> None:
    quirks = ["comments", "no_role", "finish_with_content", "usage_on_last_chunk",
              "tool_repeat", "finish_error", "no_done"]  # fmt: skip
    request = {"messages": [user("weather?")], "tools": TOOLS}
    chunks, _ = with_driver(
        lambda d: collect(d, request, "llama-3"),
        {"quirks": quirks, "models": ["llama-3"], "prefix": "/openai/v1"},
        provider_type="groq",
    )
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert text_of(chunks) == "Checking."
    calls = tool_calls_of(chunks)
    assert list(calls) == [0] and calls[0]["type"] == "function"
    assert calls[0]["name"] == "get_weather"
    assert json.loads(calls[0]["arguments"]) == {"city": "Paris"}
    assert finishes(chunks) == ["stop"]  # "error" mapped
    assert chunks[-2]["choices"][0]["delta"] == {}
    assert chunks[-1]["usage"]["total_tokens"] == 18


def test_chat_stream_answered_as_json() -> None:
    chunks, _ = with_driver(
        lambda d: collect(d, {"messages": [user("hi")]}), {"quirks": ["json_stream"]}
    )
    assert text_of(chunks) == "Hello from openai: hi"
    assert finishes(chunks) == ["stop"] and chunks[-1]["usage"]["total_tokens"] == 18


def test_chat_tools_non_streaming() -> None:
    request = {
        "messages": [user("weather in Paris?")],
        "tools": TOOLS,
        "tool_choice": "auto",
    }
    answer, requests = with_driver(lambda d: d.chat(request, "gpt-4o-mini"))
    choice = answer["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] == "Checking."
    call = choice["message"]["tool_calls"][0]
    assert call["function"]["name"] == "get_weather"
    assert json.loads(call["function"]["arguments"]) == {"city": "Paris"}
    assert requests[0]["json"]["tools"] == TOOLS


def test_chat_tools_streaming() -> None:
    request = {"messages": [user("weather in Paris?")], "tools": TOOLS}
    chunks, _ = with_driver(lambda d: collect(d, request))
    calls = tool_calls_of(chunks)
    assert list(calls) == [0]
    assert calls[0]["id"].startswith("call_") and calls[0]["type"] == "function"
    assert json.loads(calls[0]["arguments"]) == {"city": "Paris"}
    fragments = [
        call["function"]["arguments"]
        for c in chunks
        for choice in c["choices"]
        for call in choice["delta"].get("tool_calls", [])
        if "id" not in call
    ]
    assert len(fragments) >= 2 and all(fragments)
    assert finishes(chunks) == ["tool_calls"]
    assert text_of(chunks) == "Checking."


def test_tool_result_round_trip() -> None:
    async def go(driver: OpenAIDriver) -> dict[str, Any]:
        messages: list[dict[str, Any]] = [user("weather in Paris?")]
        first = await driver.chat({"messages": messages, "tools": TOOLS}, "gpt-4o")
        message = first["choices"][0]["message"]
        messages.append(
            {
                "role": "assistant",
                "content": message["content"],
                "tool_calls": message["tool_calls"],
            }
        )
        messages.append(
            {
                "role": "tool",
                "tool_call_id": message["tool_calls"][0]["id"],
                "content": "22C, sunny",
            }
        )
        return await driver.chat({"messages": messages, "tools": TOOLS}, "gpt-4o")

    answer, _ = with_driver(go)
    assert answer["choices"][0]["message"]["content"] == "The tool said: 22C, sunny"
    assert answer["choices"][0]["finish_reason"] == "stop"


def test_unknown_caller_fields_reach_openai_which_rejects_them() -> None:
    request = {"messages": [user("hi")], "not_a_field": True}
    err = expect_error(lambda d: d.chat(request, "gpt-4o-mini"))
    assert err.status == 400 and err.code == "upstream_invalid_request"
    assert "Unrecognized request argument supplied: not_a_field" in err.message


def test_reasoning_model_gets_max_completion_tokens() -> None:
    request = {"messages": [user("think")], "max_tokens": 64}
    answer, requests = with_driver(lambda d: d.chat(request, "o3-mini"))
    assert requests[0]["json"]["max_completion_tokens"] == 64
    assert "max_tokens" not in requests[0]["json"]
    assert answer["choices"][0]["message"]["content"] == "Hello from openai: think"


@pytest.mark.parametrize(
    ("text", "status", "code"),
    [
        ("FAIL 429", 429, "upstream_rate_limited"),
        ("FAIL 401", 502, "upstream_auth_error"),
        ("FAIL 500", 502, "upstream_error"),
        ("FAIL 503", 503, "upstream_unavailable"),
        ("FAIL 400", 400, "upstream_invalid_request"),
    ],
)
@pytest.mark.parametrize("stream", [False, True])
def test_upstream_errors(text: str, status: int, code: str, stream: bool) -> None:
    request = {"messages": [user(text)]}
    call = (
        (lambda d: collect(d, request))
        if stream
        else (lambda d: d.chat(request, "gpt-4o"))
    )
    err = expect_error(call)
    assert (err.status, err.code) == (status, code)
    if status == 429:
        assert err.retry_after == 7
    if status == 400:
        assert err.param == "messages"
    assert "***" not in err.message


def test_timeout_maps_to_504() -> None:
    err = expect_error(
        lambda d: d.chat({"messages": [user("SLOW 2")]}, "gpt-4o"),
        timeouts=Timeouts(connect=2, first_byte=0.3, total=5),
    )
    assert (err.status, err.code) == (504, "upstream_timeout")


def test_break_mid_stream_raises() -> None:
    async def go(driver: OpenAIDriver) -> tuple[list[dict[str, Any]], DriverError]:
        seen: list[dict[str, Any]] = []
        try:
            async for chunk in driver.chat_stream(
                {"messages": [user("BREAK")]}, "gpt-4o"
            ):
                seen.append(chunk)
        except DriverError as exc:
            return seen, exc
        raise AssertionError("the stream did not fail")

    (seen, err), _ = with_driver(lambda d: asyncio.wait_for(go(d), 10))
    assert text_of(seen)  # some text arrived before the break
    assert err.status in (502, 503, 504) and err.transient


def test_stream_error_event_raises_mid_stream() -> None:
    err = expect_error(lambda d: collect(d, {"messages": [user("STREAM ERROR")]}))
    assert err.status == 502 and "server had an error" in err.message


def test_closing_the_generator_early_releases_the_stream() -> None:
    async def go(driver: OpenAIDriver) -> list[dict[str, Any]]:
        stream = driver.chat_stream({"messages": [user("hello")]}, "gpt-4o")
        first = [await stream.__anext__()]
        await stream.aclose()  # what the gateway does when its caller goes away
        first.append(await driver.chat({"messages": [user("again")]}, "gpt-4o"))
        return first

    (first, answer), _ = with_driver(go)
    assert first["choices"][0]["delta"]["role"] == "assistant"
    assert answer["choices"][0]["message"]["content"] == "Hello from openai: again"


def test_embeddings() -> None:
    request = {"model": "alias", "input": ["one", "two"]}
    answer, requests = with_driver(lambda d: d.embed(request, "text-embedding-3-small"))
    assert requests[0]["path"] == "/v1/embeddings"
    assert requests[0]["json"] == {
        "model": "text-embedding-3-small",
        "input": ["one", "two"],
    }
    assert [item["embedding"] for item in answer["data"]] == [
        fake.embedding_vector("one"),
        fake.embedding_vector("two"),
    ]
    assert answer["usage"]["total_tokens"] == 2


@pytest.mark.parametrize("quirks", [[], ["ignore_base64"]])
def test_embeddings_base64_upstream_or_local(quirks: list[str]) -> None:
    request = {"input": [[1, 2, 3]], "encoding_format": "base64", "dimensions": 3}
    answer, _ = with_driver(
        lambda d: d.embed(request, "text-embedding-3-small"), {"quirks": quirks}
    )
    raw = base64.b64decode(answer["data"][0]["embedding"])
    assert list(struct.unpack("<3f", raw)) == fake.embedding_vector([1, 2, 3])[:3]


def test_embeddings_error_maps() -> None:
    err = expect_error(lambda d: d.embed({"input": ""}, "text-embedding-3-small"))
    assert err.status == 400 and err.param == "input"


def test_list_models_and_health_check() -> None:
    async def go(driver: OpenAIDriver) -> Any:
        await driver.health_check()
        return await driver.list_models()

    models, requests = with_driver(go)
    assert requests[0]["path"] == "/v1/models"
    kinds = {m.model_id: m.model_type for m in models}
    assert kinds == {
        "gpt-4o-mini": "inference",
        "gpt-4o": "inference",
        "o3-mini": "inference",
        "text-embedding-3-small": "embedding",
    }


def test_health_check_fails_with_a_bad_key_without_leaking_it() -> None:
    err = expect_error(lambda d: d.health_check(), api_key="sk-wrong-SECRETVALUE")
    assert (err.status, err.code, health_of(err)) == (
        502,
        "upstream_auth_error",
        "unavailable",
    )
    assert "SECRETVALUE" not in err.message and "sk-wr" not in err.message


def test_unreachable_upstream_is_503() -> None:
    async def go(client: httpx.AsyncClient) -> DriverError:
        driver = OpenAIDriver(cfg("http://127.0.0.1:9/v1"), client)
        with pytest.raises(DriverError) as info:
            await driver.list_models()
        return info.value

    err = run(go)
    # 503 by the contract; the aiohttp transport reports a refused connection as
    # a ConnectTimeout, which maps to 504 (reported to the lead).
    assert err.status == 503 and err.code == "upstream_unavailable" and err.transient
