"""bedrock: the driver against the fake vendor server on loopback."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest
from aiohttp import web
from botocore.eventstream import EventStreamBuffer
from django.test import override_settings

from providers.drivers.bedrock.driver import BedrockDriver
from providers.drivers.bedrock.response import (
    decode_event,
)
from providers.drivers.bedrock.signing import model_url, sign_request
from providers.drivers.bedrock.translate import (
    converse_request,
    tool_id,
)
from providers.drivers.config import Timeouts
from providers.drivers.errors import DriverError
from providers.health import health_of
from tests.fakes import bedrock as fake
from tests.fakes.server import FakeServer, serve
from tests.providers.drivers.bedrock.support import (
    PNG,
    TIME,
    TOKEN,
    WEATHER,
    body_of,
    chat,
    config,
    error_of,
    run,
    stream,
    text_of,
    tool_history,
)
from tests.providers.drivers.vectors import user


def test_it_translates_tool_calls_and_groups_tool_results_before_user_text() -> None:
    body = body_of({"messages": tool_history(), "tools": [WEATHER, TIME]})
    odd = tool_id("call 2/ü")
    assert body["messages"][1] == {
        "role": "assistant",
        "content": [
            {"text": "Checking."},
            {
                "toolUse": {
                    "toolUseId": "call_1",
                    "name": "get_weather",
                    "input": {"city": "Paris"},
                }
            },
            {"toolUse": {"toolUseId": odd, "name": "get_time", "input": {}}},
        ],
    }
    assert body["messages"][2] == {
        "role": "user",
        "content": [
            {"toolResult": {"toolUseId": "call_1", "content": [{"text": "18C"}]}},
            {"toolResult": {"toolUseId": odd, "content": [{"text": "noon"}]}},
            {"text": "Thanks!"},
        ],
    }
    fake.validate_converse(body)


def test_it_flattens_tool_history_when_no_tools_are_sent() -> None:
    for extra in ({}, {"tools": [WEATHER, TIME], "tool_choice": "none"}):
        body = body_of({"messages": tool_history(), **extra})
        assert "toolConfig" not in body
        flat = json.dumps(body["messages"])
        assert "toolUse" not in flat and "toolResult" not in flat
        assert "[Called tool get_weather (id call_1): " in flat
        assert "[Result of tool call call_1]: 18C" in flat
        fake.validate_converse(body)  # the strict fake accepts it


def test_tool_ids_are_sanitised_deterministically() -> None:
    assert tool_id("tooluse_AbC-1.2:3") == "tooluse_AbC-1.2:3"
    odd = tool_id("call 2/ü")
    assert odd == tool_id("call 2/ü") != tool_id("call 2/x")
    long = tool_id("x" * 80)
    assert len(long) <= 64 and long == tool_id("x" * 80)
    for value in (odd, long, tool_id("")):
        assert fake.TOOL_USE_ID.match(value)


def test_model_url_keeps_the_id_in_one_path_segment() -> None:
    cfg = config()
    assert model_url(cfg, fake.CHAT_MODEL, "converse").endswith(
        "/model/anthropic.claude-3-haiku-20240307-v1:0/converse"
    )
    arn = "arn:aws:bedrock:us-east-1:1:inference-profile/us.x"
    assert model_url(cfg, arn, "invoke").endswith(
        "/model/arn:aws:bedrock:us-east-1:1:inference-profile%2Fus.x/invoke"
    )


def test_requests_are_signed_with_sigv4_for_bedrock() -> None:
    req = converse_request(
        config(token=TOKEN), {"messages": [user("x")]}, fake.CHAT_MODEL, True
    )
    auth = req.headers["Authorization"]
    assert auth.startswith(f"AWS4-HMAC-SHA256 Credential={fake.ACCESS_KEY}/")
    assert "/us-east-1/bedrock/aws4_request" in auth
    assert "x-amz-security-token" in auth
    assert req.headers["X-Amz-Security-Token"] == TOKEN
    assert req.headers["Accept"] == "application/vnd.amazon.eventstream"
    assert json.loads(req.content or b"") == {
        "messages": [{"role": "user", "content": [{"text": "x"}]}]
    }
    assert fake.SECRET_KEY not in json.dumps(req.headers)


def test_event_stream_frames_decode_and_exceptions_raise() -> None:
    buffer = EventStreamBuffer()
    buffer.add_data(fake.event("messageStop", {"stopReason": "max_tokens"}))
    buffer.add_data(fake.exception_frame("throttlingException", "Too many tokens"))
    first, second = list(buffer)
    assert decode_event(first.headers, first.payload)[0] == "messageStop"
    assert decode_event(first.headers, first.payload)[1]["stopReason"] == "max_tokens"
    with pytest.raises(DriverError) as info:
        decode_event(second.headers, second.payload)
    assert info.value.status == 429 and "Too many tokens" in info.value.message
    with pytest.raises(DriverError) as info:
        decode_event(
            {
                ":message-type": "error",
                ":error-code": "InternalFailure",
                ":error-message": "x",
            },
            b"",
        )
    assert info.value.status == 502


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (
            {"messages": [{"role": "assistant", "content": [{"text": "x"}]}]},
            "start with a user",
        ),
        (
            {
                "messages": [
                    {"role": "user", "content": [{"text": "a"}]},
                    {"role": "user", "content": [{"text": "b"}]},
                ]
            },
            "alternate",
        ),
        ({"messages": [{"role": "user", "content": [{"text": "  "}]}]}, "blank"),
        (
            {
                "messages": [{"role": "user", "content": [{"text": "a"}]}],
                "modelId": "x",
            },
            "Unknown field",
        ),
        (
            {
                "messages": [
                    {"role": "user", "content": [{"text": "a"}]},
                    {
                        "role": "assistant",
                        "content": [
                            {"toolUse": {"toolUseId": "t", "name": "f", "input": {}}}
                        ],
                    },
                    {
                        "role": "user",
                        "content": [
                            {
                                "toolResult": {
                                    "toolUseId": "t",
                                    "content": [{"text": "r"}],
                                }
                            }
                        ],
                    },
                ]
            },
            "toolConfig field must be defined",
        ),
    ],
)
def test_the_fake_validates_converse_bodies(body: dict[str, Any], needle: str) -> None:
    with pytest.raises(fake.Reject) as info:
        fake.validate_converse(body)
    assert needle in info.value.message


@pytest.mark.parametrize("transport", ["aiohttp", "httpx"])
def test_it_chats_with_a_signed_request_on_both_transports(
    server: FakeServer, transport: str
) -> None:
    with override_settings(PROVIDERS_HTTP_TRANSPORT=transport):
        out = chat(config(server.url, token=TOKEN), {"messages": [user("Hi")]})
    assert out["choices"][0]["message"] == {
        "role": "assistant",
        "content": "Hello from Bedrock: Hi",
    }
    assert out["choices"][0]["finish_reason"] == "stop"
    assert (
        out["usage"]["prompt_tokens"] == 11 and out["usage"]["completion_tokens"] == 7
    )
    assert out["id"] == "chatcmpl-req-fake-0001"
    seen = server.app["requests"][-1]
    assert seen["headers"]["x-amz-security-token"] == TOKEN


def test_the_fake_rejects_a_path_that_differs_from_the_signed_one(
    server: FakeServer,
) -> None:
    # Signed with %3A, but the aiohttp transport puts ':' on the wire: AWS would
    # compute a different canonical URI, and so does the fake.
    cfg = config(server.url, token=TOKEN)
    url = f"{server.url}/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse"
    body = json.dumps(
        {"messages": [{"role": "user", "content": [{"text": "x"}]}]}
    ).encode()
    req = sign_request(cfg, "POST", url, body)

    async def send(_: BedrockDriver, client: httpx.AsyncClient) -> httpx.Response:
        return await client.post(req.url, headers=req.headers, content=body)

    with override_settings(PROVIDERS_HTTP_TRANSPORT="aiohttp"):
        response = run(cfg, send)
    assert response.status_code == 403
    assert response.headers["x-amzn-ErrorType"].startswith("InvalidSignatureException")
    with override_settings(PROVIDERS_HTTP_TRANSPORT="httpx"):
        assert run(cfg, send).status_code == 200


def test_the_fake_rejects_unsigned_and_tampered_requests(server: FakeServer) -> None:
    cfg = config(server.url, token=TOKEN)
    req = converse_request(cfg, {"messages": [user("x")]}, fake.CHAT_MODEL, False)

    async def send(_: BedrockDriver, client: httpx.AsyncClient) -> list[httpx.Response]:
        unsigned = await client.post(req.url, json={"messages": []})
        tampered = await client.post(
            req.url, headers=req.headers, content=(req.content or b"") + b" "
        )
        return [unsigned, tampered]

    unsigned, tampered = run(cfg, send)
    assert unsigned.status_code == 403
    assert tampered.status_code == 403
    assert "signature we calculated does not match" in tampered.json()["message"]


def test_it_sends_system_prompt_and_multi_turn_history(server: FakeServer) -> None:
    request = {
        "messages": [
            {"role": "system", "content": "Be terse."},
            user("One"),
            {"role": "assistant", "content": "Two"},
            user("Three"),
        ],
        "max_tokens": 50,
    }
    out = chat(config(server.url, token=TOKEN), request)
    assert out["choices"][0]["message"]["content"] == "Hello from Bedrock: Three"
    sent = server.app["requests"][-1]["json"]
    assert sent["system"] == [{"text": "Be terse."}]
    assert [m["role"] for m in sent["messages"]] == ["user", "assistant", "user"]
    assert sent["inferenceConfig"] == {"maxTokens": 50}


def test_it_streams_text(server: FakeServer) -> None:
    chunks = stream(config(server.url, token=TOKEN), {"messages": [user("Hi there")]})
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert text_of(chunks) == "Hello from Bedrock: Hi there"
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
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["total_tokens"] == 18


def test_it_streams_length_finish_and_cache_usage() -> None:
    with serve(fake.make_app(cache_tokens=True)) as srv:
        chunks = stream(config(srv.url), {"messages": [user("LENGTH")]})
        out = chat(config(srv.url), {"messages": [user("x")]})
    assert chunks[-2]["choices"][0]["finish_reason"] == "length"
    assert chunks[-1]["usage"]["prompt_tokens"] == 19
    assert chunks[-1]["usage"]["prompt_tokens_details"] == {
        "cached_tokens": 5,
        "cache_creation_tokens": 3,
    }
    assert out["usage"]["prompt_tokens"] == 19


def test_it_calls_tools(server: FakeServer) -> None:
    out = chat(
        config(server.url, token=TOKEN),
        {"messages": [user("Weather?")], "tools": [WEATHER]},
    )
    choice = out["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] == "Checking."
    call = choice["message"]["tool_calls"][0]
    assert call["function"]["name"] == "get_weather"
    assert json.loads(call["function"]["arguments"]) == {"city": "Paris"}


def test_it_streams_tool_calls(server: FakeServer) -> None:
    chunks = stream(
        config(server.url, token=TOKEN),
        {"messages": [user("Weather?")], "tools": [WEATHER]},
    )
    calls = [
        c["choices"][0]["delta"]["tool_calls"][0]
        for c in chunks
        if c["choices"] and "tool_calls" in c["choices"][0]["delta"]
    ]
    assert calls[0]["id"] == "tooluse_fake01" and calls[0]["index"] == 0
    assert calls[0]["function"]["name"] == "get_weather"
    arguments = "".join(c["function"]["arguments"] for c in calls)
    assert json.loads(arguments) == {"city": "Paris"}
    assert len(calls) >= 3
    assert text_of(chunks) == "Checking."
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"


def test_it_round_trips_a_tool_result(server: FakeServer) -> None:
    cfg = config(server.url, token=TOKEN)
    first = chat(cfg, {"messages": [user("Weather?")], "tools": [WEATHER]})
    message = first["choices"][0]["message"]
    call = message["tool_calls"][0]
    request = {
        "messages": [
            user("Weather?"),
            message,
            {"role": "tool", "tool_call_id": call["id"], "content": "18C and sunny"},
        ],
        "tools": [WEATHER],
    }
    out = chat(cfg, request)
    assert out["choices"][0]["message"]["content"] == "The tool said: 18C and sunny"
    stream_out = stream(cfg, request)
    assert text_of(stream_out) == "The tool said: 18C and sunny"


def test_it_sends_tool_history_without_tools(server: FakeServer) -> None:
    out = chat(config(server.url, token=TOKEN), {"messages": tool_history()})
    content = out["choices"][0]["message"]["content"]
    assert content.startswith("Hello from Bedrock: [Result of tool call call_1]: 18C")
    assert content.endswith("Thanks!")
    assert "toolConfig" not in server.app["requests"][-1]["json"]


@override_settings(IMAGE_FETCH_ALLOW_LOOPBACK=True)
def test_it_fetches_and_inlines_image_urls(server: FakeServer) -> None:
    images = web.Application()

    async def png(request: web.Request) -> web.Response:
        return web.Response(body=PNG, content_type="application/octet-stream")

    images.router.add_get("/cat.png", png)
    with serve(images) as host:
        request = {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "Describe"},
                        {
                            "type": "image_url",
                            "image_url": {"url": f"{host.url}/cat.png"},
                        },
                    ],
                }
            ]
        }
        chat(config(server.url, token=TOKEN), request)
        missing = request["messages"][0]["content"][1]["image_url"]
        missing["url"] = f"{host.url}/nope.png"
        err = error_of(lambda: chat(config(server.url, token=TOKEN), request))
    sent = server.app["requests"][-1]["json"]["messages"][0]["content"][1]
    assert sent == {
        "image": {"format": "png", "source": {"bytes": base64.b64encode(PNG).decode()}}
    }
    assert err.status == 400


@pytest.mark.parametrize(
    ("text", "status", "code"),
    [
        ("FAIL 429", 429, "upstream_rate_limited"),
        ("FAIL 401", 502, "upstream_auth_error"),
        ("FAIL 403", 502, "upstream_auth_error"),
        ("FAIL 400", 400, "upstream_invalid_request"),
        ("FAIL 500", 502, "upstream_error"),
        ("FAIL 503", 503, "upstream_unavailable"),
        ("FAIL 424", 502, "upstream_error"),
        ("FAIL 408", 504, "upstream_timeout"),
    ],
)
def test_it_maps_upstream_errors(
    server: FakeServer, text: str, status: int, code: str
) -> None:
    cfg = config(server.url, token=TOKEN)
    for call in (
        lambda: chat(cfg, {"messages": [user(text)]}),
        lambda: stream(cfg, {"messages": [user(text)]}),
    ):
        err = error_of(call)
        assert (err.status, err.code) == (status, code)
        if status == 429:
            assert err.retry_after == 7.0


def test_it_reports_unknown_models_and_rejected_credentials(server: FakeServer) -> None:
    err = error_of(
        lambda: chat(
            config(server.url, token=TOKEN),
            {"messages": [user("x")]},
            "nope.model-v1:0",
        )
    )
    assert (err.status, err.code) == (502, "upstream_model_not_found")
    for cfg in (
        config(server.url, secret="wrong-secret-value", token=TOKEN),
        config(server.url, access_key="AKIDUNKNOWN000000000", token=TOKEN),
        config(server.url),  # the session token is missing
    ):
        err = error_of(lambda cfg=cfg: chat(cfg, {"messages": [user("x")]}))
        assert (err.status, err.code, err.permanent) == (
            502,
            "upstream_auth_error",
            True,
        )
        assert (
            "wrong-secret-value" not in err.message
            and fake.SECRET_KEY not in err.message
        )


def test_it_times_out_waiting_for_the_first_byte(server: FakeServer) -> None:
    cfg = config(server.url, token=TOKEN, timeouts=Timeouts(first_byte=0.2))
    for call in (
        lambda: chat(cfg, {"messages": [user("SLOW 1")]}),
        lambda: stream(cfg, {"messages": [user("SLOW 1")]}),
    ):
        err = error_of(call)
        assert (err.status, err.code) == (504, "upstream_timeout")


def test_a_broken_stream_raises_instead_of_hanging(server: FakeServer) -> None:
    cfg = config(server.url, token=TOKEN, timeouts=Timeouts(first_byte=5))
    received: list[dict[str, Any]] = []

    async def collect(driver: BedrockDriver, _: httpx.AsyncClient) -> None:
        async for chunk in driver.chat_stream(
            {"messages": [user("BREAK")]}, fake.CHAT_MODEL
        ):
            received.append(chunk)

    err = error_of(lambda: run(cfg, collect))
    assert err.status in (502, 503)
    assert text_of(received) == "Hello from "


def test_an_in_stream_exception_raises_a_driver_error(server: FakeServer) -> None:
    err = error_of(
        lambda: stream(
            config(server.url, token=TOKEN), {"messages": [user("STREAM ERROR")]}
        )
    )
    assert (err.status, err.code) == (502, "upstream_error")
    assert "simulated" in err.message


def test_it_embeds_with_titan_and_cohere(server: FakeServer) -> None:
    cfg = config(server.url, token=TOKEN)
    titan = run(
        cfg,
        lambda d, _: d.embed(
            {"input": ["one", "two words"], "dimensions": 256}, fake.TITAN_EMBED
        ),
    )
    assert [row["index"] for row in titan["data"]] == [0, 1]
    assert all(len(row["embedding"]) == 4 for row in titan["data"])
    assert titan["usage"]["prompt_tokens"] == 3
    sent = [r["json"] for r in server.app["requests"] if r["path"].endswith("/invoke")]
    assert sorted(s["inputText"] for s in sent) == ["one", "two words"]
    assert all(s["normalize"] is True and s["dimensions"] == 256 for s in sent)
    cohere = run(cfg, lambda d, _: d.embed({"input": "one"}, fake.COHERE_EMBED))
    assert cohere["data"][0]["embedding"] == titan["data"][0]["embedding"]
    err = error_of(
        lambda: run(cfg, lambda d, _: d.embed({"input": [[1, 2]]}, fake.TITAN_EMBED))
    )
    assert err.status == 400


def test_it_lists_models_through_the_control_plane(server: FakeServer) -> None:
    models = run(config(server.url, token=TOKEN), lambda d, _: d.list_models())
    assert {(m.model_id, m.model_type) for m in models} == {
        (fake.CHAT_MODEL, "inference"),
        (fake.TITAN_EMBED, "embedding"),
        (f"us.{fake.PROFILE_ONLY_MODEL}", "inference"),
        (f"us.{fake.CHAT_MODEL}", "inference"),
    }
    paths = [r["path"] for r in server.app["requests"]]
    assert paths.count("/inference-profiles") == 2  # followed nextToken
    assert all("x-amz-security-token" in r["headers"] for r in server.app["requests"])


def test_health_check_succeeds_and_fails_with_a_bad_key(server: FakeServer) -> None:
    run(config(server.url, token=TOKEN), lambda d, _: d.health_check())
    err = error_of(
        lambda: run(
            config(server.url, secret="bad-secret-abc", token=TOKEN),
            lambda d, _: d.health_check(),
        )
    )
    assert (err.status, err.code, health_of(err)) == (
        502,
        "upstream_auth_error",
        "unavailable",
    )
    assert "bad-secret-abc" not in err.message


def test_health_check_reports_an_unreachable_control_plane() -> None:
    cfg = config("http://127.0.0.1:9", timeouts=Timeouts(connect=0.5, first_byte=0.5))
    err = error_of(lambda: run(cfg, lambda d, _: d.health_check()))
    assert err.status == 503 and err.code == "upstream_unavailable" and err.transient
