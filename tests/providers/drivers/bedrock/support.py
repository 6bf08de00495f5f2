"""Shared helpers and vectors for the bedrock driver tests."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from providers.drivers.bedrock.driver import BedrockDriver
from providers.drivers.bedrock.translate import (
    build_converse_body,
)
from providers.drivers.config import DriverConfig, Timeouts
from providers.drivers.errors import DriverError
from providers.http import build_client
from tests.fakes import bedrock as fake
from tests.providers.drivers.vectors import tool, user, weather_tool

TOKEN = "FQoGZXIvYXdzEFAKESESSIONTOKEN"


WEATHER = weather_tool(required=False)


TIME = tool("get_time", {})


PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06"
    b"\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01"
    b"\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82"
)


def config(
    url: str = "https://bedrock-runtime.us-east-1.amazonaws.com", **kw: Any
) -> DriverConfig:
    creds = {
        "access_key_id": kw.pop("access_key", fake.ACCESS_KEY),
        "secret_access_key": kw.pop("secret", fake.SECRET_KEY),
    }
    token = kw.pop("token", None)
    if token:
        creds["session_token"] = token
    conf = {"region": "us-east-1", "control_endpoint": url}
    conf.update(kw.pop("extra", {}))
    return DriverConfig(
        "bedrock", url, "aws_sigv4", creds, conf, kw.pop("timeouts", Timeouts())
    )


def body_of(request: dict[str, Any], **kw: Any) -> dict[str, Any]:
    return build_converse_body(config(**kw), request)


def tool_history() -> list[dict[str, Any]]:
    return [
        user("Weather in Paris and the time?"),
        {
            "role": "assistant",
            "content": "Checking.",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {
                        "name": "get_weather",
                        "arguments": '{"city":"Paris"}',
                    },
                },
                {
                    "id": "call 2/ü",
                    "type": "function",
                    "function": {"name": "get_time", "arguments": ""},
                },
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
        {
            "role": "tool",
            "tool_call_id": "call 2/ü",
            "content": [{"type": "text", "text": "noon"}],
        },
        user("Thanks!"),
    ]


def run(
    cfg: DriverConfig, fn: Callable[[BedrockDriver, httpx.AsyncClient], Awaitable[Any]]
) -> Any:
    async def main() -> Any:
        async with build_client() as client:
            return await fn(BedrockDriver(cfg, client), client)

    return asyncio.run(main())


def chat(
    cfg: DriverConfig, request: dict[str, Any], model: str = fake.CHAT_MODEL
) -> Any:
    return run(cfg, lambda d, _: d.chat(request, model))


def stream(
    cfg: DriverConfig, request: dict[str, Any], model: str = fake.CHAT_MODEL
) -> list[dict[str, Any]]:
    async def collect(
        driver: BedrockDriver, _: httpx.AsyncClient
    ) -> list[dict[str, Any]]:
        return [chunk async for chunk in driver.chat_stream(request, model)]

    return run(cfg, collect)  # type: ignore[no-any-return]


def error_of(fn: Callable[[], Any]) -> DriverError:
    with pytest.raises(DriverError) as info:
        fn()
    return info.value


def text_of(chunks: list[dict[str, Any]]) -> str:
    return "".join(
        c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"]
    )
