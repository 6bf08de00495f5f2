"""Shared helpers and vectors for the azure driver tests."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from providers.drivers.azure.driver import AzureOpenAIDriver
from providers.drivers.config import DriverConfig, Timeouts
from providers.drivers.errors import DriverError
from providers.http import build_client
from tests.fakes import azure as fake
from tests.fakes.server import serve
from tests.providers.drivers.vectors import weather_tool

KEY = "azure-test-key"


ENDPOINT = "https://acme.openai.azure.com"


TOOLS = [weather_tool(required=False, description=False)]


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
