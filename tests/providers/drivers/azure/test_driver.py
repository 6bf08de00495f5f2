"""azure: the driver against the fake vendor server on loopback."""

from __future__ import annotations

import asyncio
import base64
import json
import struct
from typing import Any

import httpx
import pytest

from providers.drivers.azure.driver import AzureOpenAIDriver
from providers.drivers.config import Timeouts
from providers.health import health_of
from tests.fakes import azure as fake
from tests.fakes.openai import embedding_vector
from tests.fakes.server import serve
from tests.providers.drivers.azure.support import (
    KEY,
    TOOLS,
    collect,
    expect_error,
    run,
    text_of,
    with_driver,
)
from tests.providers.drivers.vectors import user


def test_fake_rejects_what_azure_rejects() -> None:
    async def go(client: httpx.AsyncClient, url: str) -> list[httpx.Response]:
        body = {"messages": [user("hi")]}
        key = {"api-key": KEY}
        chat = f"{url}/openai/deployments/chat-prod/chat/completions"
        return [
            await client.post(chat, json=body, headers=key),  # no api-version
            await client.post(chat + "?api-version=1999-01-01", json=body, headers=key),
            await client.post(
                f"{url}/openai/deployments/nope/chat/completions?api-version=2024-10-21",
                json=body,
                headers=key,
            ),
            await client.post(chat + "?api-version=2024-10-21", json=body),
            await client.post(
                chat + "?api-version=2024-10-21",
                json={**body, "extra": 1},
                headers=key,
            ),
            await client.post(
                chat + "?api-version=2024-10-21",
                json={"messages": [{"role": "developer", "content": "x"}, user("y")]},
                headers=key,
            ),
            await client.get(
                f"{url}/openai/deployments?api-version=2024-10-21", headers=key
            ),
        ]

    with serve(fake.make_app(api_key=KEY)) as server:
        responses = run(lambda c: go(c, server.url))
    assert [r.status_code for r in responses] == [404, 404, 404, 401, 400, 400, 404]
    assert responses[0].json() == {
        "error": {"code": "404", "message": "Resource not found"}
    }
    assert responses[2].json()["error"]["code"] == "DeploymentNotFound"
    assert "Unrecognized request argument" in responses[4].json()["error"]["message"]
    assert responses[5].json()["error"]["param"] == "messages[0].role"


def test_chat_classic() -> None:
    request = {
        "model": "gpt-4o-mini",
        "messages": [{"role": "developer", "content": "Be terse."}, user("hi")],
    }
    answer, requests = with_driver(
        lambda d: d.chat(request, "gpt-4o-mini"),
        deployments={"gpt-4o-mini": "chat-prod"},
    )
    assert answer["choices"][0]["message"]["content"] == "Hello from azure: hi"
    assert answer["usage"]["total_tokens"] == 18
    sent = requests[0]
    assert sent["path"] == "/openai/deployments/chat-prod/chat/completions"
    assert sent["query"] == {"api-version": "2024-10-21"}
    assert sent["headers"]["api-key"] == KEY
    assert "Authorization" not in sent["headers"]
    assert "model" not in sent["json"]
    assert sent["json"]["messages"][0]["role"] == "system"


def test_chat_v1_with_bearer_key() -> None:
    request = {"messages": [{"role": "developer", "content": "x"}, user("hey")]}
    answer, requests = with_driver(
        lambda d: d.chat(request, "chat-prod"), api_surface="v1", auth_method="bearer"
    )
    assert answer["choices"][0]["message"]["content"] == "Hello from azure: hey"
    sent = requests[0]
    assert sent["path"] == "/openai/v1/chat/completions"
    assert sent["json"]["model"] == "chat-prod"
    assert sent["json"]["messages"][0]["role"] == "developer"
    assert sent["headers"]["Authorization"] == f"Bearer {KEY}"


def test_stream_drops_azure_quirk_chunks() -> None:
    chunks, requests = with_driver(
        lambda d: collect(d, {"messages": [user("stream")]}, "chat-prod")
    )
    assert requests[0]["json"]["stream_options"] == {"include_usage": True}
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert text_of(chunks) == "Hello from azure: stream"
    finals = [c for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]]
    assert len(finals) == 1 and finals[0]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] == 18
    assert all(c["choices"] or c.get("usage") for c in chunks)
    assert all("delta" in choice for c in chunks for choice in c["choices"])


def test_tools_streaming_and_round_trip() -> None:
    async def go(driver: AzureOpenAIDriver) -> tuple[list[dict[str, Any]], dict]:
        messages: list[dict[str, Any]] = [user("weather?")]
        chunks = await collect(
            driver, {"messages": messages, "tools": TOOLS}, "chat-prod"
        )
        calls: dict[int, dict[str, str]] = {}
        for chunk in chunks:
            for choice in chunk["choices"]:
                for call in choice["delta"].get("tool_calls") or []:
                    acc = calls.setdefault(call["index"], {"id": "", "args": ""})
                    acc["id"] += call.get("id", "")
                    acc["args"] += call["function"].get("arguments", "")
        messages.append(
            {
                "role": "assistant",
                "content": "Checking.",
                "tool_calls": [
                    {
                        "id": calls[0]["id"],
                        "type": "function",
                        "function": {
                            "name": "get_weather",
                            "arguments": calls[0]["args"],
                        },
                    }
                ],
            }
        )
        messages.append(
            {"role": "tool", "tool_call_id": calls[0]["id"], "content": "rain"}
        )
        answer = await driver.chat({"messages": messages, "tools": TOOLS}, "chat-prod")
        return chunks, {"calls": calls, "answer": answer}

    (chunks, result), _ = with_driver(go)
    assert json.loads(result["calls"][0]["args"]) == {"city": "Paris"}
    finals = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]]
    assert finals[-1] == "tool_calls"
    assert result["answer"]["choices"][0]["message"]["content"] == "The tool said: rain"


def test_content_filter_maps_to_400() -> None:
    err = expect_error(lambda d: d.chat({"messages": [user("FILTER")]}, "chat-prod"))
    assert (err.status, err.code, err.type) == (
        400,
        "content_filter",
        "invalid_request_error",
    )


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
def test_upstream_errors(text: str, status: int, code: str) -> None:
    err = expect_error(lambda d: d.chat({"messages": [user(text)]}, "chat-prod"))
    assert (err.status, err.code) == (status, code)
    if status == 429:
        assert err.retry_after == 7


def test_unknown_deployment_and_bad_api_version() -> None:
    err = expect_error(lambda d: d.chat({"messages": [user("x")]}, "missing"))
    assert (err.status, err.code) == (502, "upstream_model_not_found")
    err = expect_error(
        lambda d: d.chat({"messages": [user("x")]}, "chat-prod"),
        api_version="2019-01-01",
    )
    # A wrong route is our configuration: the code says so, and health follows.
    assert err.code == "provider_misconfigured" and health_of(err) == "failed"


def test_timeout_and_break() -> None:
    err = expect_error(
        lambda d: d.chat({"messages": [user("SLOW 2")]}, "chat-prod"),
        timeouts=Timeouts(connect=2, first_byte=0.3, total=5),
    )
    assert err.status == 504
    err = expect_error(
        lambda d: asyncio.wait_for(
            collect(d, {"messages": [user("BREAK")]}, "chat-prod"), 10
        )
    )
    assert err.transient


@pytest.mark.parametrize("surface", ["classic", "v1"])
def test_embeddings(surface: str) -> None:
    request = {"input": ["a", "b"], "encoding_format": "base64"}
    answer, requests = with_driver(
        lambda d: d.embed(request, "text-embedding-3-small"),
        api_surface=surface,
        deployments={"text-embedding-3-small": "embed-small"},
    )
    if surface == "classic":
        assert requests[0]["path"] == "/openai/deployments/embed-small/embeddings"
    else:
        assert requests[0]["path"] == "/openai/v1/embeddings"
        assert requests[0]["json"]["model"] == "embed-small"
    raw = base64.b64decode(answer["data"][1]["embedding"])
    assert list(struct.unpack("<4f", raw)) == embedding_vector("b")


def test_list_models_and_health_check() -> None:
    async def go(driver: AzureOpenAIDriver) -> Any:
        await driver.health_check()
        return await driver.list_models()

    models, requests = with_driver(go)
    assert requests[0]["query"] == {"api-version": "2023-03-15-preview"}
    assert [(m.model_id, m.name, m.model_type) for m in models] == [
        ("chat-prod", "gpt-4o-mini", "inference"),
        ("reasoner", "o3-mini", "inference"),
        ("embed-small", "text-embedding-3-small", "embedding"),
    ]


def test_health_check_with_a_bad_key() -> None:
    err = expect_error(lambda d: d.health_check(), api_key="wrong-SECRET-key")
    assert (err.status, err.code) == (502, "upstream_auth_error")
    assert "SECRET" not in err.message
