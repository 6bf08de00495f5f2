"""gemini: the driver against the fake vendor server on loopback."""

from __future__ import annotations

import asyncio
import base64
import json
import struct
from typing import Any

import httpx
import pytest
from aiohttp import web
from django.test import override_settings

from providers.drivers.config import Timeouts
from providers.drivers.errors import DriverError
from providers.drivers.gemini.driver import GeminiDriver
from providers.drivers.gemini.signatures import (
    decode_tool_id,
)
from providers.health import health_of
from tests.fakes import gemini as fake
from tests.fakes.server import serve
from tests.providers.drivers.gemini.support import (
    MODEL,
    WEATHER,
    collect,
    content_of,
    errors_for,
    finish_of,
    run,
    run_on,
)
from tests.providers.drivers.vectors import user


def test_chat_text_against_the_fake() -> None:
    app = fake.make_app()
    out = run(
        app, lambda d: d.chat({"model": "x", "messages": [user("hi there")]}, MODEL)
    )
    assert out["choices"][0]["message"] == {
        "role": "assistant",
        "content": "Hello from gemini: hi there",
    }
    assert out["choices"][0]["finish_reason"] == "stop"
    assert out["usage"]["prompt_tokens"] == 11
    assert out["usage"]["completion_tokens"] == 7
    assert out["usage"]["total_tokens"] == 18
    sent = app["requests"][0]
    assert sent["path"] == f"/v1beta/models/{MODEL}:generateContent"
    assert sent["headers"]["x-goog-api-key"] == fake.API_KEY
    assert "key" not in sent["query"]


def test_multi_turn_with_a_system_prompt_against_the_fake() -> None:
    app = fake.make_app()
    request = {
        "messages": [
            {"role": "system", "content": "Be brief."},
            user("first"),
            {"role": "assistant", "content": "ok"},
            user("second"),
        ],
        "max_completion_tokens": 50,
        "temperature": 0.1,
    }
    out = run(app, lambda d: d.chat(request, "models/" + MODEL))
    assert out["choices"][0]["message"]["content"] == "Hello from gemini: second"
    sent = app["requests"][0]["json"]
    assert sent["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    assert [c["role"] for c in sent["contents"]] == ["user", "model", "user"]
    assert sent["generationConfig"] == {"maxOutputTokens": 50, "temperature": 0.1}


def test_several_candidates_and_length_against_the_fake() -> None:
    out = run(
        fake.make_app(), lambda d: d.chat({"messages": [user("hey")], "n": 2}, MODEL)
    )
    assert [c["index"] for c in out["choices"]] == [0, 1]
    out = run(fake.make_app(), lambda d: d.chat({"messages": [user("LENGTH")]}, MODEL))
    assert out["choices"][0]["finish_reason"] == "length"
    out = run(fake.make_app(), lambda d: d.chat({"messages": [user("BLOCKED")]}, MODEL))
    assert out["choices"][0]["finish_reason"] == "content_filter"


def test_streaming_text_against_the_fake() -> None:
    app = fake.make_app()
    chunks = run(app, lambda d: collect(d, {"messages": [user("stream me")]}))
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    text_chunks = [c for c in chunks[1:] if c["choices"] and c["choices"][0]["delta"]]
    assert len(text_chunks) >= 3
    assert content_of(chunks) == "Hello from gemini: stream me"
    assert finish_of(chunks) == ["stop"]
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["prompt_tokens"] == 11
    assert chunks[-1]["usage"]["completion_tokens"] == 7
    sent = app["requests"][0]
    assert sent["path"].endswith(":streamGenerateContent")
    assert sent["query"] == {"alt": "sse"}


def test_tool_calls_and_the_result_round_trip_with_signatures() -> None:
    app = fake.make_app(require_signatures=True)
    first_request = {"messages": [user("Weather in Paris?")], "tools": [WEATHER]}

    async def scenario(driver: GeminiDriver) -> tuple[Any, Any]:
        first = await driver.chat(first_request, "gemini-3-pro-preview")
        message = first["choices"][0]["message"]
        call = message["tool_calls"][0]
        follow_up = {
            "messages": [
                *first_request["messages"],
                message,
                {
                    "role": "tool",
                    "tool_call_id": call["id"],
                    "content": "18C and sunny",
                },
            ],
            "tools": [WEATHER],
        }
        return first, await driver.chat(follow_up, "gemini-3-pro-preview")

    first, second = run(app, scenario)
    choice = first["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] == "Checking."
    call = choice["message"]["tool_calls"][0]
    assert call["type"] == "function"
    assert call["function"]["name"] == "get_weather"
    assert json.loads(call["function"]["arguments"]) == {"city": "Paris"}
    assert decode_tool_id(call["id"])[1] == fake.SIGNATURE
    assert second["choices"][0]["message"]["content"] == "The tool said: 18C and sunny"
    replayed = app["requests"][1]["json"]["contents"]
    assert replayed[1]["parts"][1]["thoughtSignature"] == fake.SIGNATURE
    assert replayed[2]["parts"][0]["functionResponse"]["name"] == "get_weather"
    assert "additionalProperties" not in json.dumps(app["requests"][0]["json"])


def test_streaming_tool_calls_against_the_fake() -> None:
    request = {
        "messages": [user("Weather?")],
        "tools": [WEATHER],
        "tool_choice": "auto",
    }
    chunks = run(fake.make_app(), lambda d: collect(d, request))
    assert content_of(chunks) == "Checking."
    calls = [
        tc
        for c in chunks
        if c["choices"]
        for tc in c["choices"][0]["delta"].get("tool_calls", [])
    ]
    assert [c.get("id") is not None for c in calls] == [True, False]
    assert calls[0]["function"]["name"] == "get_weather"
    arguments = "".join(c["function"]["arguments"] for c in calls)
    assert json.loads(arguments) == {"city": "Paris"}
    assert finish_of(chunks) == ["tool_calls"]
    assert chunks[-1]["usage"]["total_tokens"] == 18


@pytest.mark.parametrize("stream", [False, True])
def test_upstream_errors_map_per_table(stream: bool) -> None:
    err = errors_for("FAIL 429", stream)
    assert (err.status, err.code, err.retry_after) == (
        429,
        "upstream_rate_limited",
        7.0,
    )
    assert (
        errors_for("FAIL 401", stream).status,
        errors_for("FAIL 401", stream).code,
    ) == (
        502,
        "upstream_auth_error",
    )
    assert errors_for("FAIL 500", stream).status == 502
    err = errors_for("FAIL 503", stream)
    assert (err.status, err.code) == (503, "upstream_overloaded")
    err = errors_for("FAIL 400", stream)
    assert (err.status, err.code) == (400, "upstream_invalid_request")
    assert "invalid argument" in err.message


def test_a_bad_key_is_an_upstream_auth_error_without_the_key() -> None:
    err = errors_for("hi", key="wrong-key-123")
    assert (err.status, err.code) == (502, "upstream_auth_error")
    assert "wrong-key-123" not in err.message
    assert "API key not valid" in err.message


def test_a_slow_upstream_times_out_as_504() -> None:
    tiny = Timeouts(connect=2.0, first_byte=0.2)
    for stream in (False, True):
        err = errors_for("SLOW 1", stream, timeouts=tiny)
        assert (err.status, err.code) == (504, "upstream_timeout")


def test_a_broken_stream_raises_after_the_partial_text() -> None:
    received: list[Any] = []

    async def call(driver: GeminiDriver) -> DriverError:
        try:
            async for chunk in driver.chat_stream({"messages": [user("BREAK")]}, MODEL):
                received.append(chunk)
        except DriverError as exc:
            return exc
        raise AssertionError("stream ended cleanly")

    async def bounded(driver: GeminiDriver) -> DriverError:
        return await asyncio.wait_for(call(driver), 10)

    err = run(fake.make_app(), bounded)
    assert content_of(received) == "Partial answer"
    # The connection drops mid-body: a transport failure, which may pass.
    assert (err.status, err.code, err.transient) == (503, "upstream_unavailable", True)


@pytest.mark.parametrize("text", ["STREAM ERROR", "STREAM ERROR RAW"])
def test_in_stream_errors_raise_the_mapped_error(text: str) -> None:
    err = errors_for(text, stream=True)
    assert (err.status, err.code) == (503, "upstream_overloaded")


def test_closing_the_stream_early_closes_the_upstream() -> None:
    async def call(driver: GeminiDriver) -> Any:
        gen = driver.chat_stream({"messages": [user("hello")]}, MODEL)
        first = await gen.__anext__()
        await gen.aclose()
        return first

    first = run(fake.make_app(), call)
    assert first["choices"][0]["delta"]["role"] == "assistant"


@override_settings(IMAGE_FETCH_ALLOW_LOOPBACK=True)
def test_https_images_are_fetched_and_inlined() -> None:
    png = b"\x89PNG\r\n\x1a\n" + b"0" * 64
    images = web.Application()

    async def picture(request: web.Request) -> web.Response:
        return web.Response(body=png, content_type="image/png")

    async def page(request: web.Request) -> web.Response:
        return web.Response(text="<html>", content_type="text/html")

    images.router.add_get("/cat.png", picture)
    images.router.add_get("/page", page)
    app = fake.make_app()
    with serve(images) as image_server, serve(app) as gemini:

        def ask(path: str) -> dict[str, Any]:
            return {
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {"type": "text", "text": "look"},
                            {
                                "type": "image_url",
                                "image_url": {"url": image_server.url + path},
                            },
                        ],
                    }
                ]
            }

        out = run_on(gemini.url, lambda d: d.chat(ask("/cat.png"), MODEL))
        assert out["choices"][0]["message"]["content"] == "Hello from gemini: look"
        part = app["requests"][0]["json"]["contents"][0]["parts"][1]
        assert part == {
            "inlineData": {
                "mimeType": "image/png",
                "data": base64.b64encode(png).decode(),
            }
        }
        for path, options in (("/page", {}), ("/cat.png", {"max_image_bytes": 10})):

            async def call(driver: GeminiDriver, path: str = path) -> DriverError:
                with pytest.raises(DriverError) as err:
                    await driver.chat(ask(path), MODEL)
                return err.value

            err = run_on(gemini.url, call, **options)
            assert (err.status, err.param) == (
                400,
                "messages[0].content[1].image_url.url",
            )
    assert len(app["requests"]) == 1  # refused images never reached Gemini


def test_embeddings_against_the_fake() -> None:
    app = fake.make_app()
    request = {"model": "e", "input": ["one", "two"]}
    out = run(app, lambda d: d.embed(request, "gemini-embedding-001"))
    assert out["object"] == "list"
    assert [d["index"] for d in out["data"]] == [0, 1]
    assert all(len(d["embedding"]) == 4 for d in out["data"])
    again = run(fake.make_app(), lambda d: d.embed(request, "gemini-embedding-001"))
    assert again["data"] == out["data"]
    encoded = run(
        fake.make_app(),
        lambda d: d.embed(
            {**request, "encoding_format": "base64"}, "gemini-embedding-001"
        ),
    )
    floats = struct.unpack("<4f", base64.b64decode(encoded["data"][0]["embedding"]))
    assert floats == pytest.approx(out["data"][0]["embedding"], rel=1e-6)
    assert app["requests"][0]["path"].endswith(
        "gemini-embedding-001:batchEmbedContents"
    )
    batched = run(
        fake.make_app(),
        lambda d: d.embed(request, "gemini-embedding-001"),
        embed_batch_size=1,
    )
    assert batched["data"] == out["data"]


def test_list_models_follows_pages() -> None:
    app = fake.make_app(page_size=2)
    models = run(app, lambda d: d.list_models())
    assert [(m.model_id, m.model_type) for m in models] == [
        ("gemini-2.5-flash", "inference"),
        ("gemini-2.5-pro", "inference"),
        ("gemini-embedding-001", "embedding"),
        ("gemini-3-pro-preview", "inference"),
    ]
    assert models[0].context_window == 1048576
    assert len(app["requests"]) == 3
    assert app["requests"][0]["query"] == {"pageSize": "1000"}
    assert "pageToken" in app["requests"][1]["query"]


def test_health_check_succeeds_and_fails_with_a_bad_key() -> None:
    app = fake.make_app()
    assert run(app, lambda d: d.health_check()) is None
    assert app["requests"][0]["query"] == {"pageSize": "1"}

    async def check(driver: GeminiDriver) -> DriverError:
        with pytest.raises(DriverError) as err:
            await driver.health_check()
        return err.value

    err = run(fake.make_app(), check, key="bad")
    assert (err.status, err.code, health_of(err)) == (
        502,
        "upstream_auth_error",
        "unavailable",
    )


def test_the_fake_rejects_what_gemini_rejects() -> None:
    url = f"/v1beta/models/{MODEL}:generateContent"
    good = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
    cases = [
        ({**good, "foo": 1}, 'Unknown name "foo": Cannot find field.'),
        (
            {**good, "generationConfig": {"max_tokens": 5}},
            'Unknown name "max_tokens" at',
        ),
        ({"contents": [{"role": "assistant", "parts": [{"text": "x"}]}]}, "valid role"),
        ({"contents": []}, "contents is not specified"),
        (
            {
                "contents": [
                    {
                        "role": "user",
                        "parts": [{"functionResponse": {"name": "f", "response": {}}}],
                    }
                ]
            },
            "number of function response parts",
        ),
        (
            {
                **good,
                "tools": [
                    {
                        "functionDeclarations": [
                            {
                                "name": "f",
                                "parameters": {
                                    "type": "object",
                                    "additionalProperties": False,
                                },
                            }
                        ]
                    }
                ],
            },
            'Unknown name "additionalProperties"',
        ),
    ]
    with serve(fake.make_app()) as server:
        headers = {"x-goog-api-key": fake.API_KEY}
        with httpx.Client(base_url=server.url) as client:
            for body, message in cases:
                resp = client.post(url, json=body, headers=headers)
                assert resp.status_code == 400, body
                error = resp.json()["error"]
                assert error["status"] == "INVALID_ARGUMENT"
                assert message in error["message"]
            resp = client.post(
                url.replace("generateContent", "streamGenerateContent"),
                json=good,
                headers=headers,
            )
            assert resp.status_code == 400
            resp = client.post(url, json=good, headers={"x-goog-api-key": "nope"})
            assert resp.status_code == 400
            assert resp.json()["error"]["details"][0]["reason"] == "API_KEY_INVALID"
            assert client.post(url, json=good).status_code == 403
            assert client.post(url, json=good, headers=headers).status_code == 200
