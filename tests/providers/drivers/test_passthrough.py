"""The pass-through types shared by the Anthropic and Bedrock drivers, and the
credential boundary around ``messages_raw`` (a vendor echoing the key)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from aiohttp import web

from providers.drivers.anthropic.driver import AnthropicDriver
from providers.drivers.config import DriverConfig
from providers.drivers.errors import DriverError
from providers.drivers.openai.driver import OpenAIDriver
from providers.drivers.passthrough import EventTracker, RawEvent, RawUsage
from providers.http import build_client
from tests.fakes.server import serve

SECRET = "sk-ant-echoed-secret-000111"
BODY = {"model": "gw", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}


def event(data: dict[str, Any]) -> RawEvent:
    return RawEvent(str(data["type"]), data, json.dumps(data))


def test_usage_takes_later_counts_and_maps_to_canonical() -> None:
    usage = RawUsage()
    tracker = EventTracker(usage)
    start = {"input_tokens": 9, "cache_read_input_tokens": 4, "output_tokens": 1}
    tracker.feed(event({"type": "message_start", "message": {"usage": start}}))
    tracker.feed(event({"type": "ping"}))
    tracker.feed(event({"type": "message_delta", "usage": {"output_tokens": 30}}))
    assert not tracker.done
    with pytest.raises(DriverError) as info:
        tracker.finish("anthropic")
    assert info.value.transient and info.value.status == 502
    tracker.feed(event({"type": "message_stop"}))
    tracker.finish("anthropic")
    assert usage.canonical() == {
        "prompt_tokens": 13,
        "completion_tokens": 30,
        "total_tokens": 43,
        "prompt_tokens_details": {"cached_tokens": 4},
    }
    usage.update({"cache_creation_input_tokens": 2, "output_tokens": True})
    assert usage.canonical()["prompt_tokens_details"]["cache_creation_tokens"] == 2
    assert usage.output_tokens == 30  # a bool is not a count


def test_error_events_raise_and_events_frame_as_sent() -> None:
    tracker = EventTracker(RawUsage())
    error = {"type": "error", "error": {"type": "rate_limit_error", "message": "slow"}}
    with pytest.raises(DriverError) as info:
        tracker.feed(event(error))
    assert info.value.status == 429
    pretty = RawEvent("ping", {"type": "ping"}, '{\n"type": "ping"}')
    assert pretty.sse() == b'event: ping\ndata: {\ndata: "type": "ping"}\n\n'


def _echo_app() -> web.Application:
    """A vendor that quotes the caller's key back in every error."""

    async def messages(request: web.Request) -> web.StreamResponse:
        key = request.headers["x-api-key"]
        data = await request.json()
        error = {"type": "invalid_request_error", "message": f"bad key {key}"}
        if not data.get("stream"):
            return web.json_response({"type": "error", "error": error}, status=400)
        resp = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await resp.prepare(request)
        start = {"type": "message_start", "message": {"usage": {"input_tokens": 1}}}
        await resp.write(
            f"event: message_start\ndata: {json.dumps(start)}\n\n".encode()
        )
        payload = json.dumps({"type": "error", "error": error})
        await resp.write(f"event: error\ndata: {payload}\n\n".encode())
        await resp.write_eof()
        return resp

    app = web.Application()
    app.router.add_post("/v1/messages", messages)
    return app


def test_errors_leaving_messages_raw_are_scrubbed_streamed_or_not() -> None:
    with serve(_echo_app()) as server:
        cfg = DriverConfig("anthropic", server.url, "x_api_key", {"api_key": SECRET})

        async def main() -> list[DriverError]:
            errors = []
            async with build_client() as client:
                driver = AnthropicDriver(cfg, client)
                try:
                    await driver.messages_raw(BODY, "claude-x")
                except DriverError as exc:
                    errors.append(exc)
                stream = await driver.messages_raw(BODY, "claude-x", stream=True)
                try:
                    async for _ in stream:
                        pass
                except DriverError as exc:
                    errors.append(exc)
            return errors

        errors = asyncio.run(main())
    assert len(errors) == 2
    for err in errors:
        assert SECRET not in err.message and "bad key" in err.message
        assert err.__cause__ is None


def test_vendors_without_the_native_body_refuse_it() -> None:
    cfg = DriverConfig("openai", "https://api.openai.com/v1", "bearer", {})

    async def main() -> DriverError:
        async with build_client() as client:
            driver = OpenAIDriver(cfg, client)
            assert not driver.accepts_messages_raw("gpt-4o")
            with pytest.raises(DriverError) as info:
                await driver.messages_raw(BODY, "gpt-4o", stream=True)
            return info.value

    err = asyncio.run(main())
    assert (err.status, err.type, err.param) == (400, "invalid_request_error", "model")
