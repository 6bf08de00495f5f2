"""Shared helpers and vectors for the ollama driver tests."""

from __future__ import annotations

import base64
import re
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from aiohttp import web

from providers.drivers.config import DriverConfig, Timeouts
from providers.drivers.errors import DriverError
from providers.drivers.ollama.driver import OllamaDriver
from providers.drivers.ollama.response import (
    OllamaStreamTranslator,
)
from providers.drivers.ollama.translate import (
    build_chat_body,
)
from providers.http import build_client
from tests.fakes.server import serve
from tests.providers.drivers.vectors import tool, user, weather_tool

MODEL = "llama3.2:latest"


PNG = base64.b64encode(b"\x89PNG\r\n\x1a\nfake-image-bytes").decode()


WEATHER = weather_tool(strict=True)


TIME_TOOL = tool("get_time", {"type": "object"})


CALL_ID_RE = re.compile(r"^call_[A-Za-z0-9]{24}$")


def cfg(**config: Any) -> DriverConfig:
    return DriverConfig(
        provider_type="ollama",
        base_url="http://localhost:11434",
        auth_method="none",
        config=config,
    )


def body_for(request: dict[str, Any], stream: bool = False, **config: Any):
    return build_chat_body(cfg(**config), request, MODEL, stream)


def tool_history() -> list[dict[str, Any]]:
    return [
        user("Weather in Paris?"),
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_abc",
                    "type": "function",
                    "function": {
                        "name": "get_weather",
                        "arguments": '{"city":"Paris"}',
                    },
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_abc", "content": "18C and sunny"},
    ]


def _lines(*messages: dict[str, Any], done: dict[str, Any] | None = None):
    events = [
        {
            "model": MODEL,
            "created_at": "x",
            "message": {"role": "assistant", **m},
            "done": False,
        }
        for m in messages
    ]
    events.append(
        {
            "model": MODEL,
            "message": {"role": "assistant", "content": ""},
            "done": True,
            **(
                done
                or {"done_reason": "stop", "prompt_eval_count": 11, "eval_count": 7}
            ),
        }
    )
    return events


def _run(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    t = OllamaStreamTranslator()
    out: list[dict[str, Any]] = []
    for e in events:
        out.extend(t.feed(e))
    out.extend(t.finish())
    return out


def run(
    app: web.Application,
    body: Callable[[OllamaDriver], Awaitable[Any]],
    api_key: str | None = None,
    timeouts: Timeouts | None = None,
    **config: Any,
) -> Any:
    import asyncio

    with serve(app) as server:

        async def main() -> Any:
            client = build_client()
            try:
                driver = OllamaDriver(
                    DriverConfig(
                        provider_type="ollama",
                        base_url=server.url,
                        auth_method="bearer" if api_key else "none",
                        credentials={"api_key": api_key} if api_key else {},
                        config=config,
                        timeouts=timeouts or Timeouts(),
                    ),
                    client,
                )
                return await body(driver)
            finally:
                await client.aclose()

        return asyncio.run(main())


async def collect(driver: OllamaDriver, request: dict[str, Any], model: str = MODEL):
    return [chunk async for chunk in driver.chat_stream(request, model)]


def text_of(chunks: list[dict[str, Any]]) -> str:
    return "".join(
        c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"]
    )


def _error_of(app: web.Application, text: str, **kw: Any) -> DriverError:
    with pytest.raises(DriverError) as err:
        run(app, lambda d: d.chat({"messages": [user(text)]}, MODEL), **kw)
    return err.value


def _post(app: web.Application, path: str, content: bytes | str, **headers: str):
    import asyncio

    with serve(app) as server:

        async def main() -> httpx.Response:
            async with httpx.AsyncClient() as client:
                return await client.post(
                    server.url + path, content=content, headers=headers
                )

        return asyncio.run(main())
