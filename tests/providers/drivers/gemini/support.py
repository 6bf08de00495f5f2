"""Shared helpers and vectors for the gemini driver tests."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from providers.drivers.config import DriverConfig, Timeouts
from providers.drivers.errors import DriverError
from providers.drivers.gemini.driver import GeminiDriver
from providers.drivers.gemini.response import (
    StreamTranslator,
)
from providers.drivers.gemini.signatures import (
    encode_tool_id,
)
from providers.drivers.gemini.translate import build_chat_body
from providers.http import build_client
from tests.fakes import gemini as fake
from tests.fakes.server import serve
from tests.providers.drivers.vectors import tool, user, weather_tool

MODEL = "gemini-2.5-flash"


WEATHER = weather_tool(strict=True, closed=True)


TIME = tool("get_time", {"type": "object"})


def body_for(**request: Any) -> dict[str, Any]:
    return build_chat_body(request, MODEL)


def cfg(url: str = "", key: str = fake.API_KEY, **options: Any) -> DriverConfig:
    timeouts = options.pop("timeouts", Timeouts())
    return DriverConfig(
        provider_type="gemini",
        base_url=f"{url}/v1beta" if url else "",
        auth_method="api_key",
        credentials={"api_key": key},
        config=options,
        timeouts=timeouts,
        name="test gemini",
    )


def run_on(
    url: str,
    fn: Callable[[GeminiDriver], Awaitable[Any]],
    key: str = fake.API_KEY,
    **options: Any,
) -> Any:
    async def main() -> Any:
        client = build_client()
        try:
            return await fn(GeminiDriver(cfg(url, key, **options), client))
        finally:
            await client.aclose()

    return asyncio.run(main())


def run(
    app: web.Application,
    fn: Callable[[GeminiDriver], Awaitable[Any]],
    key: str = fake.API_KEY,
    **options: Any,
) -> Any:
    with serve(app) as server:
        return run_on(server.url, fn, key, **options)


async def collect(driver: GeminiDriver, request: dict[str, Any]) -> list[Any]:
    return [chunk async for chunk in driver.chat_stream(request, MODEL)]


def content_of(chunks: list[dict[str, Any]]) -> str:
    return "".join(
        c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"]
    )


def finish_of(chunks: list[dict[str, Any]]) -> list[str]:
    return [
        c["choices"][0]["finish_reason"]
        for c in chunks
        if c["choices"] and c["choices"][0]["finish_reason"]
    ]


TOOL_HISTORY = [
    user("Weather in Paris and the time?"),
    {
        "role": "assistant",
        "content": "Checking.",
        "tool_calls": [
            {
                "id": encode_tool_id("call_a", "c2lnbmF0dXJl+/=="),
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
            },
            {
                "id": "call_b",
                "type": "function",
                "function": {"name": "get_time", "arguments": ""},
            },
        ],
    },
    {"role": "tool", "tool_call_id": "call_b", "content": "noon"},
    {
        "role": "tool",
        "tool_call_id": encode_tool_id("call_a", "c2lnbmF0dXJl+/=="),
        "content": [{"type": "text", "text": '{"temp_c": 18}'}],
    },
    user("Thanks, and tomorrow?"),
]


def google(status: int, gstatus: str, message: str, **extra: Any) -> bytes:
    return json.dumps(
        {"error": {"code": status, "message": message, "status": gstatus, **extra}}
    ).encode()


def feed_all(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    translator = StreamTranslator()
    chunks = [c for e in events for c in translator.feed(e)]
    return chunks + translator.finish()


def cand(
    parts: list[dict[str, Any]], finish: str | None = None, **kw: Any
) -> dict[str, Any]:
    c: dict[str, Any] = {"content": {"role": "model", "parts": parts}, **kw}
    if finish:
        c["finishReason"] = finish
    return {"candidates": [c]}


def errors_for(text: str, stream: bool = False, **options: Any) -> DriverError:
    request = {"messages": [user(text)]}

    async def call(driver: GeminiDriver) -> DriverError:
        try:
            if stream:
                await collect(driver, request)
            else:
                await driver.chat(request, MODEL)
        except DriverError as exc:
            return exc
        raise AssertionError("no error raised")

    return run(fake.make_app(), call, **options)


def ref_bomb(levels: int = 24) -> dict[str, Any]:
    """Definitions that each refer to the next twice: 2**levels nodes inlined."""
    defs = {
        f"d{i}": {
            "type": "object",
            "properties": {
                "a": {"$ref": f"#/$defs/d{i + 1}"},
                "b": {"$ref": f"#/$defs/d{i + 1}"},
            },
        }
        for i in range(levels)
    }
    root = {"x": {"$ref": "#/$defs/d0"}}
    return {"type": "object", "properties": root, "$defs": defs}
