"""Shared helpers and vectors for the openai driver tests."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from providers.drivers.config import DriverConfig, Timeouts
from providers.drivers.errors import DriverError
from providers.drivers.openai.driver import OpenAIDriver
from providers.drivers.openai.response import (
    OpenAIStreamTranslator,
)
from providers.http import build_client
from tests.fakes import openai as fake
from tests.fakes.server import serve
from tests.providers.drivers.vectors import WEATHER_TOOL

KEY = "sk-test-key"


TOOLS = [WEATHER_TOOL]


def cfg(
    base_url: str = "https://api.openai.com/v1",
    *,
    provider_type: str = "openai",
    api_key: str = KEY,
    timeouts: Timeouts | None = None,
    **config: Any,
) -> DriverConfig:
    return DriverConfig(
        provider_type=provider_type,
        base_url=base_url,
        auth_method="bearer",
        credentials={"api_key": api_key},
        config=config,
        timeouts=timeouts or Timeouts(connect=2, first_byte=10, total=30),
    )


def run(fn: Callable[[httpx.AsyncClient], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        client = build_client()
        try:
            return await fn(client)
        finally:
            await client.aclose()

    return asyncio.run(main())


def feed_all(events: list[dict[str, Any]], **kw: Any) -> list[dict[str, Any]]:
    translator = OpenAIStreamTranslator(**kw)
    out = []
    for event in events:
        out += translator.feed(event)
    return out + translator.finish()


def text_of(chunks: list[dict[str, Any]], index: int = 0) -> str:
    return "".join(
        c["choices"][0]["delta"].get("content") or ""
        for c in chunks
        if c["choices"] and c["choices"][0]["index"] == index
    )


def tool_calls_of(chunks: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """Accumulate tool-call deltas the way the OpenAI SDK does (concatenating)."""
    calls: dict[int, dict[str, Any]] = {}
    for chunk in chunks:
        for choice in chunk["choices"]:
            for call in choice["delta"].get("tool_calls") or []:
                acc = calls.setdefault(
                    call["index"], {"id": "", "type": "", "name": "", "arguments": ""}
                )
                acc["id"] += call.get("id", "")
                acc["type"] += call.get("type", "")
                acc["name"] += call.get("function", {}).get("name", "")
                acc["arguments"] += call.get("function", {}).get("arguments", "")
    return calls


def finishes(chunks: list[dict[str, Any]]) -> list[str]:
    return [
        c["choices"][0]["finish_reason"]
        for c in chunks
        if c["choices"] and c["choices"][0]["finish_reason"]
    ]


def env(choices: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    """An upstream chunk with OpenAI's envelope."""
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1760000000,
        "model": "gpt-4o-mini",
        "system_fingerprint": "fp_x",
        "choices": choices,
        **extra,
    }


def ch(delta: dict[str, Any] | None, finish: str | None = None, index: int = 0):
    choice: dict[str, Any] = {"index": index, "finish_reason": finish}
    if delta is not None:
        choice["delta"] = delta
    return choice


def completion_body(**over: Any) -> dict[str, Any]:
    body = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hi", "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": 11,
            "completion_tokens": 7,
            "total_tokens": 18,
            "prompt_tokens_details": {"cached_tokens": 4},
            "completion_tokens_details": {"reasoning_tokens": 2},
        },
        "service_tier": "default",
        "system_fingerprint": "fp_1",
    }
    body.update(over)
    return body


def err_body(message: str, code: str | None = None, param: str | None = None) -> bytes:
    return json.dumps(
        {"error": {"message": message, "type": "x", "param": param, "code": code}}
    ).encode()


def with_driver(
    fn: Callable[[OpenAIDriver], Awaitable[Any]],
    app_options: dict[str, Any] | None = None,
    **config_options: Any,
) -> tuple[Any, list[dict[str, Any]]]:
    app = fake.make_app(api_key=KEY, **(app_options or {}))
    with serve(app) as server:
        prefix = (app_options or {}).get("prefix", "/v1")
        config = cfg(server.url + prefix, **config_options)

        async def go(client: httpx.AsyncClient) -> Any:
            return await fn(OpenAIDriver(config, client))

        result = run(go)
    return result, app["requests"]


def expect_error(
    fn: Callable[[OpenAIDriver], Awaitable[Any]],
    app_options: dict[str, Any] | None = None,
    **config_options: Any,
) -> DriverError:
    async def wrapped(driver: OpenAIDriver) -> Any:
        try:
            await fn(driver)
        except DriverError as exc:
            return exc
        raise AssertionError("no DriverError raised")

    return with_driver(wrapped, app_options, **config_options)[0]


async def collect(
    driver: OpenAIDriver, request: dict[str, Any], model: str = "gpt-4o-mini"
):
    return [chunk async for chunk in driver.chat_stream(request, model)]
