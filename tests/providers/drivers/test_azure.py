"""Azure OpenAI driver: URL/body vectors, then I/O against the fake over loopback."""

from __future__ import annotations

import asyncio
import base64
import json
import struct
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from providers.drivers import driver_class
from providers.drivers.azure.discovery import parse_deployments
from providers.drivers.azure.driver import AzureOpenAIDriver
from providers.drivers.azure.errors import azure_error
from providers.drivers.azure.translate import (
    azure_endpoint,
    build_azure_chat_body,
    build_azure_embeddings_body,
    chat_url,
    deployments_url,
    embeddings_url,
)
from providers.drivers.config import DriverConfig, Timeouts
from providers.drivers.errors import DriverError
from providers.health import health_of
from providers.http import build_client
from tests.fakes import azure as fake
from tests.fakes.openai import embedding_vector
from tests.fakes.server import serve

KEY = "azure-test-key"
ENDPOINT = "https://acme.openai.azure.com"
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
            },
        },
    }
]


def cfg(
    base_url: str = ENDPOINT,
    *,
    api_key: str = KEY,
    auth_method: str = "api_key",
    timeouts: Timeouts | None = None,
    **config: Any,
) -> DriverConfig:
    return DriverConfig(
        provider_type="azure_openai",
        base_url=base_url,
        auth_method=auth_method,
        credentials={"api_key": api_key},
        config=config,
        timeouts=timeouts or Timeouts(connect=2, first_byte=10, total=30),
    )


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


# -- URLs and bodies -------------------------------------------------------------


def test_classic_urls_use_the_deployment_and_api_version() -> None:
    config = cfg(deployments={"gpt-4o": "prod gpt4o"})
    assert chat_url(config, "gpt-4o") == (
        f"{ENDPOINT}/openai/deployments/prod%20gpt4o/chat/completions"
        "?api-version=2024-10-21"
    )
    assert chat_url(config, "other") == (
        f"{ENDPOINT}/openai/deployments/other/chat/completions?api-version=2024-10-21"
    )
    custom = cfg(api_version="2025-04-01-preview")
    assert embeddings_url(custom, "emb") == (
        f"{ENDPOINT}/openai/deployments/emb/embeddings?api-version=2025-04-01-preview"
    )
    assert deployments_url(config) == (
        f"{ENDPOINT}/openai/deployments?api-version=2023-03-15-preview"
    )


def test_v1_urls() -> None:
    config = cfg(ENDPOINT + "/", api_surface="v1")
    assert chat_url(config, "x") == f"{ENDPOINT}/openai/v1/chat/completions"
    assert embeddings_url(config, "x") == f"{ENDPOINT}/openai/v1/embeddings"


@pytest.mark.parametrize(
    "base",
    [ENDPOINT, ENDPOINT + "/", ENDPOINT + "/openai", ENDPOINT + "/openai/v1/"],
)
def test_endpoint_tolerates_pasted_suffixes(base: str) -> None:
    assert azure_endpoint(base) == ENDPOINT


def test_unknown_surface_is_a_configuration_failure() -> None:
    with pytest.raises(DriverError) as info:
        chat_url(cfg(api_surface="v2"), "x")
    assert health_of(info.value) == "failed"


def test_classic_body_drops_model_and_keeps_the_rest() -> None:
    request = {
        "model": "alias",
        "messages": [{"role": "system", "content": "s"}, user("hi")],
        "tools": TOOLS,
        "tool_choice": "required",
        "seed": 1,
    }
    body = build_azure_chat_body(cfg(), request, "gpt-4o", stream=False)
    assert body == {k: v for k, v in request.items() if k != "model"}


def test_v1_body_names_the_deployment() -> None:
    config = cfg(api_surface="v1", deployments={"gpt-4o": "prod"})
    body = build_azure_chat_body(config, {"messages": [user("x")]}, "gpt-4o", True)
    assert body == {
        "messages": [user("x")],
        "model": "prod",
        "stream": True,
        "stream_options": {"include_usage": True},
    }


@pytest.mark.parametrize(
    ("config", "converted"),
    [
        ({}, True),
        ({"api_version": "2024-06-01"}, True),
        ({"api_version": "2024-10-21"}, True),
        ({"api_version": "2024-12-01-preview"}, False),
        ({"api_version": "2025-04-01-preview"}, False),
        ({"api_surface": "v1"}, False),
    ],
)
def test_developer_role_conversion(config: dict[str, Any], converted: bool) -> None:
    request = {"messages": [{"role": "developer", "content": "rules"}, user("hi")]}
    body = build_azure_chat_body(cfg(**config), request, "d", stream=False)
    assert body["messages"][0]["role"] == ("system" if converted else "developer")
    assert request["messages"][0]["role"] == "developer"


def test_reasoning_deployment_gets_max_completion_tokens() -> None:
    config = cfg(deployments={"fast": "o3-mini-prod"})
    body = build_azure_chat_body(config, {"max_tokens": 9}, "fast", stream=False)
    assert body == {"max_completion_tokens": 9}


def test_embeddings_bodies() -> None:
    request = {"model": "alias", "input": "x", "dimensions": 2}
    assert build_azure_embeddings_body(cfg(), request, "emb") == {
        "input": "x",
        "dimensions": 2,
    }
    v1 = cfg(api_surface="v1", deployments={"emb": "emb-prod"})
    assert build_azure_embeddings_body(v1, request, "emb")["model"] == "emb-prod"


def test_parse_deployments() -> None:
    data = {
        "object": "list",
        "data": [
            {"id": "chat-prod", "model": "gpt-4o", "status": "succeeded"},
            {"id": "embed", "model": "text-embedding-3-small", "status": "succeeded"},
            {"id": "broken", "model": "gpt-4o", "status": "failed"},
            {"model": "no-id"},
        ],
    }
    models = parse_deployments(data)
    assert [(m.model_id, m.name, m.model_type) for m in models] == [
        ("chat-prod", "gpt-4o", "inference"),
        ("embed", "text-embedding-3-small", "embedding"),
    ]


def test_content_filter_error_is_the_callers() -> None:
    body = json.dumps(
        {
            "error": {
                "message": "The response was filtered",
                "type": None,
                "param": "prompt",
                "code": "content_filter",
                "status": 400,
                "innererror": {"code": "ResponsibleAIPolicyViolation"},
            }
        }
    ).encode()
    err = azure_error(400, body, {})
    assert (err.status, err.type, err.code, err.param) == (
        400,
        "invalid_request_error",
        "content_filter",
        "prompt",
    )


def test_not_found_errors() -> None:
    missing = json.dumps(
        {"error": {"code": "DeploymentNotFound", "message": "no deployment"}}
    ).encode()
    err = azure_error(404, missing, {})
    assert (err.status, err.code, health_of(err)) == (
        502,
        "upstream_model_not_found",
        "unavailable",
    )
    route = json.dumps({"error": {"code": "404", "message": "Resource not found"}})
    err = azure_error(404, route.encode(), {})
    assert health_of(err) == "failed" and "api_version" in err.message


def test_registry() -> None:
    assert driver_class("azure_openai") is AzureOpenAIDriver


# -- I/O against the fake ---------------------------------------------------------


def run(fn: Callable[[httpx.AsyncClient], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        client = build_client()
        try:
            return await fn(client)
        finally:
            await client.aclose()

    return asyncio.run(main())


def with_driver(
    fn: Callable[[AzureOpenAIDriver], Awaitable[Any]], **config: Any
) -> tuple[Any, list[dict[str, Any]]]:
    app = fake.make_app(api_key=KEY)
    with serve(app) as server:
        driver_config = cfg(server.url, **config)

        async def go(client: httpx.AsyncClient) -> Any:
            return await fn(AzureOpenAIDriver(driver_config, client))

        result = run(go)
    return result, app["requests"]


def expect_error(
    fn: Callable[[AzureOpenAIDriver], Awaitable[Any]], **config: Any
) -> DriverError:
    async def wrapped(driver: AzureOpenAIDriver) -> Any:
        try:
            await fn(driver)
        except DriverError as exc:
            return exc
        raise AssertionError("no DriverError raised")

    return with_driver(wrapped, **config)[0]


async def collect(driver: AzureOpenAIDriver, request: dict[str, Any], model: str):
    return [chunk async for chunk in driver.chat_stream(request, model)]


def text_of(chunks: list[dict[str, Any]]) -> str:
    return "".join(
        c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"]
    )


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
