"""ollama: the driver against the fake vendor server on loopback."""

from __future__ import annotations

import base64
import json
import struct
from typing import Any

import pytest
from aiohttp import web
from django.test import override_settings

from providers.drivers.config import DriverConfig, Timeouts
from providers.drivers.errors import DriverError
from providers.drivers.ollama.driver import OllamaDriver
from providers.drivers.ollama.errors import error_from_body
from providers.health import health_of
from providers.http import build_client
from tests.fakes.ollama import make_app
from tests.fakes.server import serve
from tests.providers.drivers.ollama.support import (
    CALL_ID_RE,
    MODEL,
    PNG,
    WEATHER,
    _error_of,
    _post,
    collect,
    run,
    text_of,
    tool_history,
)
from tests.providers.drivers.vectors import user


@pytest.mark.parametrize(
    ("status", "message", "out_status", "code"),
    [
        (
            404,
            'model "x" not found, try pulling it first',
            502,
            "upstream_model_not_found",
        ),
        (
            500,
            'model "x" not found, try pulling it first',
            502,
            "upstream_model_not_found",
        ),
        (400, "invalid options", 400, "upstream_invalid_request"),
        (401, "unauthorized", 502, "upstream_auth_error"),
        (429, "too many", 429, "upstream_rate_limited"),
        (500, "llama runner process has terminated", 502, "upstream_error"),
        (502, "remote model is unavailable", 502, "upstream_error"),
        (503, "server busy", 503, "upstream_unavailable"),
    ],
)
def test_error_mapping(status, message, out_status, code):
    err = error_from_body(
        status, json.dumps({"error": message}).encode(), {"retry-after": "3"}
    )
    assert (err.status, err.code) == (out_status, code)
    assert message in err.message
    if status == 429:
        assert err.retry_after == 3.0


def test_io_text():
    app = make_app()
    out = run(
        app, lambda d: d.chat({"model": "alias", "messages": [user("hi")]}, MODEL)
    )
    assert out["choices"][0]["message"] == {
        "role": "assistant",
        "content": "Hello from ollama: hi",
    }
    assert out["choices"][0]["finish_reason"] == "stop"
    assert out["usage"] == {
        "prompt_tokens": 11,
        "completion_tokens": 7,
        "total_tokens": 18,
    }
    sent = app["requests"][0]
    assert sent["path"] == "/api/chat"
    assert sent["json"]["stream"] is False
    assert sent["json"]["model"] == MODEL


def test_io_multi_turn_with_system_prompt_and_auth():
    app = make_app(api_key="sekrit")
    request = {
        "messages": [
            {"role": "system", "content": "Be nice."},
            user("first"),
            {"role": "assistant", "content": "ok"},
            user("second"),
        ],
        "max_tokens": 20,
        "temperature": 0.3,
    }
    out = run(app, lambda d: d.chat(request, MODEL), api_key="sekrit")
    assert out["choices"][0]["message"]["content"] == "Hello from ollama: second"
    sent = app["requests"][0]
    assert sent["headers"]["Authorization"] == "Bearer sekrit"
    assert [m["role"] for m in sent["json"]["messages"]] == [
        "system",
        "user",
        "assistant",
        "user",
    ]
    assert sent["json"]["options"] == {"num_predict": 20, "temperature": 0.3}


def test_io_stream_text():
    app = make_app()
    chunks = run(app, lambda d: collect(d, {"messages": [user("stream me")]}))
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert text_of(chunks) == "Hello from ollama: stream me"
    assert (
        len(
            [
                c
                for c in chunks
                if c["choices"] and c["choices"][0]["delta"].get("content")
            ]
        )
        >= 3
    )
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1] == {
        "choices": [],
        "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18},
    }
    assert app["requests"][0]["json"]["stream"] is True


def test_io_stream_length():
    chunks = run(make_app(), lambda d: collect(d, {"messages": [user("LENGTH")]}))
    assert chunks[-2]["choices"][0]["finish_reason"] == "length"
    out = run(make_app(), lambda d: d.chat({"messages": [user("LENGTH")]}, MODEL))
    assert out["choices"][0]["finish_reason"] == "length"


def test_io_tools_non_streaming():
    app = make_app()
    out = run(
        app,
        lambda d: d.chat({"messages": [user("weather?")], "tools": [WEATHER]}, MODEL),
    )
    choice = out["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] == "Checking."
    (call,) = choice["message"]["tool_calls"]
    assert CALL_ID_RE.match(call["id"])
    assert call["function"]["name"] == "get_weather"
    assert json.loads(call["function"]["arguments"]) == {"city": "Paris"}
    assert app["requests"][0]["json"]["tools"][0]["function"]["name"] == "get_weather"


def test_io_tools_streaming():
    app = make_app(tool_call_ids=True)
    chunks = run(
        app, lambda d: collect(d, {"messages": [user("weather?")], "tools": [WEATHER]})
    )
    assert text_of(chunks) == "Checking."
    calls = [
        tc
        for c in chunks
        if c["choices"]
        for tc in c["choices"][0]["delta"].get("tool_calls", [])
    ]
    assert calls[0]["id"].startswith("call_")
    assert calls[0]["function"]["name"] == "get_weather"
    assert all(tc["index"] == 0 for tc in calls)
    assert json.loads("".join(tc["function"]["arguments"] for tc in calls)) == {
        "city": "Paris"
    }
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"
    assert chunks[-1]["usage"]["prompt_tokens"] == 11


def test_io_tool_result_round_trip():
    app = make_app()
    request = {"messages": tool_history(), "tools": [WEATHER]}
    out = run(app, lambda d: d.chat(request, MODEL))
    assert out["choices"][0]["message"]["content"] == "The tool said: 18C and sunny"
    assert out["choices"][0]["finish_reason"] == "stop"
    sent = app["requests"][0]["json"]["messages"]
    assert sent[1]["tool_calls"][0]["function"]["arguments"] == {"city": "Paris"}
    assert sent[2]["tool_name"] == "get_weather"
    assert app["unnamed_tool_messages"] == []


@override_settings(IMAGE_FETCH_ALLOW_LOOPBACK=True)
def test_io_image_data_url_and_fetched_url():
    png = b"\x89PNG\r\n\x1a\n" + b"x" * 100

    async def image(request: web.Request) -> web.Response:
        return web.Response(body=png, content_type="image/png")

    async def html(request: web.Request) -> web.Response:
        return web.Response(text="<html>", content_type="text/html")

    images = web.Application()
    images.router.add_get("/cat.png", image)
    images.router.add_get("/page", html)
    with serve(images) as img_server:
        app = make_app()
        request = {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "describe"},
                        {
                            "type": "image_url",
                            "image_url": {"url": f"data:image/png;base64,{PNG}"},
                        },
                        {
                            "type": "image_url",
                            "image_url": {"url": f"{img_server.url}/cat.png"},
                        },
                    ],
                }
            ]
        }
        out = run(app, lambda d: d.chat(request, MODEL))
        assert out["choices"][0]["message"]["content"] == "Hello from ollama: describe"
        sent = app["requests"][0]["json"]["messages"][0]
        assert sent["images"] == [PNG, base64.b64encode(png).decode()]

        for url, config in (
            (f"{img_server.url}/page", {}),
            (f"{img_server.url}/missing.png", {}),
            (f"{img_server.url}/cat.png", {"image_max_bytes": 10}),
        ):
            bad = {
                "messages": [
                    {
                        "role": "user",
                        "content": [{"type": "image_url", "image_url": {"url": url}}],
                    }
                ]
            }
            app = make_app()
            with pytest.raises(DriverError) as err:
                run(app, lambda d, bad=bad: d.chat(bad, MODEL), **config)
            assert err.value.status == 400
            assert err.value.code == "invalid_image_url"
            assert err.value.param == "messages[0].content[0].image_url.url"
            assert app["requests"] == []


def test_io_error_mapping():
    err = _error_of(make_app(), "FAIL 429")
    assert (err.status, err.code, err.retry_after) == (
        429,
        "upstream_rate_limited",
        7.0,
    )
    err = _error_of(make_app(), "FAIL 401")
    assert (err.status, err.code) == (502, "upstream_auth_error")
    err = _error_of(make_app(), "FAIL 500")
    assert (err.status, err.code) == (502, "upstream_error")
    err = _error_of(make_app(), "FAIL 503")
    assert (err.status, err.code) == (503, "upstream_unavailable")
    err = _error_of(make_app(), "FAIL 400")
    assert (err.status, err.code) == (400, "upstream_invalid_request")
    err = _error_of(make_app(), "SLOW 2", timeouts=Timeouts(first_byte=0.2))
    assert (err.status, err.code) == (504, "upstream_timeout")
    err = _error_of(make_app(api_key="right"), "hi", api_key="wrong")
    assert (err.status, err.code) == (502, "upstream_auth_error")
    assert "wrong" not in err.message


def test_io_unknown_model_is_upstream_model_not_found():
    with pytest.raises(DriverError) as err:
        run(make_app(), lambda d: d.chat({"messages": [user("hi")]}, "nope:7b"))
    assert (err.value.status, err.value.code) == (502, "upstream_model_not_found")
    assert "try pulling it first" in err.value.message


def test_io_stream_errors_before_first_byte():
    with pytest.raises(DriverError) as err:
        run(make_app(), lambda d: collect(d, {"messages": [user("FAIL 429")]}))
    assert (err.value.status, err.value.retry_after) == (429, 7.0)


def test_io_stream_break_raises_not_hangs():
    got: list[dict[str, Any]] = []

    async def body(driver: OllamaDriver) -> None:
        async for chunk in driver.chat_stream({"messages": [user("BREAK")]}, MODEL):
            got.append(chunk)

    with pytest.raises(DriverError) as err:
        run(make_app(), body, timeouts=Timeouts(first_byte=5))
    assert err.value.status in (502, 503, 504)
    assert text_of(got) == "Hello from "


def test_io_stream_error_line():
    got: list[dict[str, Any]] = []

    async def body(driver: OllamaDriver) -> None:
        async for chunk in driver.chat_stream(
            {"messages": [user("STREAM ERROR")]}, MODEL
        ):
            got.append(chunk)

    with pytest.raises(DriverError) as err:
        run(make_app(), body)
    assert err.value.status == 502
    assert "error was encountered while running the model" in err.value.message
    assert text_of(got) == "Hello "


def test_io_stream_closed_early_by_consumer():
    async def body(driver: OllamaDriver) -> str:
        gen = driver.chat_stream({"messages": [user("hello there")]}, MODEL)
        first = await gen.__anext__()
        await gen.aclose()
        return first["choices"][0]["delta"]["role"]

    assert run(make_app(), body) == "assistant"


def test_io_embeddings():
    app = make_app()
    out = run(
        app,
        lambda d: d.embed(
            {"input": ["one", "two words"], "encoding_format": "base64"},
            "nomic-embed-text:latest",
        ),
    )
    assert [d["index"] for d in out["data"]] == [0, 1]
    vec = struct.unpack("<4f", base64.b64decode(out["data"][0]["embedding"]))
    assert len(vec) == 4
    assert out["usage"] == {"prompt_tokens": 3, "total_tokens": 3}
    assert app["requests"][0]["path"] == "/api/embed"
    again = run(make_app(), lambda d: d.embed({"input": "one"}, "nomic-embed-text"))
    assert again["data"][0]["embedding"] == pytest.approx(list(vec), abs=1e-6)
    with pytest.raises(DriverError) as err:
        run(make_app(), lambda d: d.embed({"input": [[1, 2]]}, "nomic-embed-text"))
    assert err.value.status == 400


def test_io_list_models_and_health():
    app = make_app(api_key="k")
    models = run(app, lambda d: d.list_models(), api_key="k")
    assert {m.model_id: (m.model_type, m.context_window) for m in models} == {
        "llama3.2:latest": ("inference", 131072),
        "qwen3:8b": ("inference", 40960),
        "nomic-embed-text:latest": ("embedding", 2048),
    }
    assert [r["path"] for r in app["requests"]].count("/api/show") == 3
    app = make_app()
    models = run(app, lambda d: d.list_models(), discover_details=False)
    assert [m.context_window for m in models] == [None, None, None]
    assert [r["path"] for r in app["requests"]] == ["/api/tags"]

    app = make_app(api_key="k")
    assert run(app, lambda d: d.health_check(), api_key="k") is None
    assert app["requests"][0]["path"] == "/api/tags"
    with pytest.raises(DriverError) as err:
        run(make_app(api_key="k"), lambda d: d.health_check(), api_key="bad")
    assert (err.value.code, health_of(err.value)) == (
        "upstream_auth_error",
        "unavailable",
    )


def test_io_health_check_unreachable():
    from tests.fakes.server import free_port

    async def main() -> None:
        client = build_client()
        try:
            driver = OllamaDriver(
                DriverConfig("ollama", f"http://127.0.0.1:{free_port()}", "none"),
                client,
            )
            await driver.health_check()
        finally:
            await client.aclose()

    import asyncio

    with pytest.raises(DriverError) as err:
        asyncio.run(main())
    # Connection refused. 503 is the intent; httpx-aiohttp maps aiohttp's
    # ClientConnectorError to httpx.ConnectTimeout, which base maps to 504.
    assert err.value.status == 503
    assert err.value.transient
    assert health_of(err.value) == "unavailable"


def test_fake_rejects_string_tool_arguments_like_go():
    body = {
        "model": MODEL,
        "stream": False,
        "messages": [
            user("q"),
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [{"function": {"name": "f", "arguments": '{"a":1}'}}],
            },
        ],
    }
    resp = _post(make_app(), "/api/chat", json.dumps(body))
    assert resp.status_code == 400
    assert "cannot unmarshal string" in resp.json()["error"]
    assert "map[string]interface {}" in resp.json()["error"]


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        ("{not json", 400, "invalid character"),
        ("", 400, "missing request body"),
        (
            {"model": "ghost", "messages": [user("x")]},
            404,
            'model "ghost" not found, try pulling it first',
        ),
        (
            {"model": MODEL, "messages": [{"role": "wizard", "content": "x"}]},
            400,
            "invalid message role",
        ),
        (
            {
                "model": MODEL,
                "messages": [
                    {"role": "user", "content": [{"type": "text", "text": "x"}]}
                ],
            },
            400,
            "cannot unmarshal array",
        ),
        (
            {"model": MODEL, "messages": [user("x")], "options": {"stop": "END"}},
            400,
            "must be of type array",
        ),
        (
            {
                "model": MODEL,
                "messages": [
                    {
                        "role": "user",
                        "content": "x",
                        "images": ["data:image/png;base64,AAAA"],
                    }
                ],
            },
            400,
            "illegal base64",
        ),
    ],
)
def test_fake_rejections(body, status, fragment):
    content = body if isinstance(body, str) else json.dumps(body)
    resp = _post(make_app(), "/api/chat", content)
    assert resp.status_code == status
    assert fragment in resp.json()["error"]


def test_fake_records_tool_message_without_name_and_streams_by_default():
    app = make_app()
    body = {"model": MODEL, "messages": [user("q"), {"role": "tool", "content": "42"}]}
    resp = _post(app, "/api/chat", json.dumps(body))
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(x) for x in resp.text.splitlines() if x.strip()]
    assert lines[-1]["done"] is True
    assert "".join(x["message"]["content"] for x in lines) == "The tool said: 42"
    assert len(app["unnamed_tool_messages"]) == 1
