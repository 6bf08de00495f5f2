"""Shared helpers and vectors for the anthropic driver tests."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from providers.drivers.anthropic.driver import AnthropicDriver
from providers.drivers.anthropic.translate import (
    build_messages_body,
)
from providers.drivers.config import DriverConfig, Timeouts
from providers.http import build_client
from tests.fakes import anthropic as fake
from tests.fakes.server import serve
from tests.providers.drivers.vectors import user

SECRET = "sk-ant-test-key"


CFG = DriverConfig(
    provider_type="anthropic",
    base_url="https://api.anthropic.com",
    auth_method="x_api_key",
    credentials={"api_key": SECRET},
)


def body_for(
    request: dict[str, Any], cfg: DriverConfig = CFG, model: str = "claude-test"
) -> dict[str, Any]:
    body = build_messages_body(cfg, request, model, False)
    fake.validate_body(body)  # everything we build must pass the strict fake
    return body


def text(value: str) -> dict[str, Any]:
    return {"type": "text", "text": value}


def tool_call(call_id: str, name: str, arguments: str) -> dict[str, Any]:
    return {
        "id": call_id,
        "type": "function",
        "function": {"name": name, "arguments": arguments},
    }


def conversation_with_tools() -> list[dict[str, Any]]:
    return [
        user("Weather in Paris and the time?"),
        {
            "role": "assistant",
            "content": "Let me check.",
            "tool_calls": [
                tool_call("call.1:abc", "get_weather", '{"city": "Paris"}'),
                tool_call("call_2", "get_time", ""),
            ],
        },
        {"role": "tool", "tool_call_id": "call.1:abc", "content": "22C"},
        {"role": "tool", "tool_call_id": "call_2", "content": [text("noon")]},
        user("Thanks, and tomorrow?"),
    ]


def anthropic_error(kind: str, message: str = "msg", **extra: Any) -> bytes:
    error = {"type": kind, "message": message, **extra}
    return json.dumps({"type": "error", "error": error, "request_id": "req_1"}).encode()


def events_text_and_two_tools() -> list[tuple[str, dict[str, Any]]]:
    usage = {"input_tokens": 20, "cache_read_input_tokens": 5, "output_tokens": 1}
    return [
        (
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": "msg_1",
                    "type": "message",
                    "role": "assistant",
                    "content": [],
                    "model": "claude-test",
                    "stop_reason": None,
                    "usage": usage,
                },
            },
        ),
        (
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "thinking", "thinking": ""},
            },
        ),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "thinking_delta", "thinking": "Plan."},
            },
        ),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "signature_delta", "signature": "abc"},
            },
        ),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ("ping", {"type": "ping"}),
        (
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 1,
                "content_block": {"type": "text", "text": ""},
            },
        ),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 1,
                "delta": {"type": "text_delta", "text": "Checking."},
            },
        ),
        ("content_block_stop", {"type": "content_block_stop", "index": 1}),
        (
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 2,
                "content_block": {
                    "type": "tool_use",
                    "id": "toolu_A",
                    "name": "get_weather",
                    "input": {},
                },
            },
        ),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 2,
                "delta": {"type": "input_json_delta", "partial_json": ""},
            },
        ),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 2,
                "delta": {"type": "input_json_delta", "partial_json": '{"city": '},
            },
        ),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 2,
                "delta": {"type": "input_json_delta", "partial_json": '"Paris"}'},
            },
        ),
        ("content_block_stop", {"type": "content_block_stop", "index": 2}),
        (
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 3,
                "content_block": {
                    "type": "tool_use",
                    "id": "toolu_B",
                    "name": "get_time",
                    "input": {},
                },
            },
        ),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 3,
                "delta": {"type": "input_json_delta", "partial_json": "{}"},
            },
        ),
        ("content_block_stop", {"type": "content_block_stop", "index": 3}),
        ("some_future_event", {"type": "some_future_event"}),
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "tool_use", "stop_sequence": None},
                "usage": {"output_tokens": 41},
            },
        ),
        ("message_stop", {"type": "message_stop"}),
    ]


def delta(value: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {"choices": [{"index": 0, "delta": value, "finish_reason": finish}]}


def run(
    app: Any,
    call: Callable[[AnthropicDriver], Awaitable[Any]],
    *,
    auth_method: str = "x_api_key",
    api_key: str = SECRET,
    timeouts: Timeouts | None = None,
    config: dict[str, Any] | None = None,
) -> Any:
    with serve(app) as server:

        async def main() -> Any:
            client = build_client()
            try:
                cfg = DriverConfig(
                    provider_type="anthropic",
                    base_url=server.url,
                    auth_method=auth_method,
                    credentials={"api_key": api_key},
                    config=config or {},
                    timeouts=timeouts or Timeouts(),
                )
                return await call(AnthropicDriver(cfg, client))
            finally:
                await client.aclose()

        return asyncio.run(main())


def collect(request: dict[str, Any]) -> Callable[[AnthropicDriver], Awaitable[Any]]:
    async def call(driver: AnthropicDriver) -> list[dict[str, Any]]:
        return [chunk async for chunk in driver.chat_stream(request, "claude-test")]

    return call


def chat(request: dict[str, Any]) -> Callable[[AnthropicDriver], Awaitable[Any]]:
    async def call(driver: AnthropicDriver) -> dict[str, Any]:
        return await driver.chat(request, "claude-test")

    return call


def joined_content(chunks: list[dict[str, Any]]) -> str:
    return "".join(
        c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"]
    )


def post_fake(body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    with serve(fake.make_app()) as server:
        sent = {"x-api-key": SECRET, "anthropic-version": "2023-06-01"}
        sent.update(headers or {})
        return httpx.post(f"{server.url}/v1/messages", json=body, headers=sent)


GOOD = {"model": "claude-test", "max_tokens": 10, "messages": [user("hi")]}
