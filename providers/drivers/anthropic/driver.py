"""``AnthropicDriver``: the thin I/O layer around the pure Anthropic modules."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from providers.drivers.anthropic.discovery import (
    MAX_MODEL_PAGES,
    MODELS_PAGE_LIMIT,
    parse_models,
)
from providers.drivers.anthropic.errors import VENDOR, error_from_anthropic
from providers.drivers.anthropic.raw import count_request, input_tokens, raw_request
from providers.drivers.anthropic.response import StreamTranslator, parse_message
from providers.drivers.anthropic.translate import (
    build_chat_request,
    has_structured_outputs,
)
from providers.drivers.anthropic.urls import models_url, request_headers
from providers.drivers.base import Driver
from providers.drivers.config import ModelInfo, UpstreamRequest
from providers.drivers.errors import DriverError, TransientDriverError
from providers.drivers.passthrough import (
    EventTracker,
    RawMessage,
    RawStream,
    RawUsage,
    relay_events,
    sse_raw_events,
)
from providers.drivers.stream import relay, sse_events
from providers.drivers.structured import Native

log = logging.getLogger(__name__)


class AnthropicDriver(Driver):
    vendor = VENDOR

    def native_output(self, model_id: str) -> Native:
        """Forced tools always; json_schema where the model has structured
        outputs; json_object never (a forced tool emulates it)."""
        return Native(json_object=False, json_schema=has_structured_outputs(model_id))

    async def chat(self, request: dict[str, Any], model_id: str) -> dict[str, Any]:
        plan = self.structured_plan(request, model_id)
        req = build_chat_request(
            self.config, plan.request, model_id, False, await self.auth()
        )
        response = await self.send(req)
        return plan.answer(parse_message(self.read_json(response), model_id))

    async def chat_stream(
        self, request: dict[str, Any], model_id: str
    ) -> AsyncIterator[dict[str, Any]]:
        plan = self.structured_plan(request, model_id)
        async for chunk in plan.stream(self._stream(plan.request, model_id)):
            yield chunk

    async def _stream(
        self, request: dict[str, Any], model_id: str
    ) -> AsyncIterator[dict[str, Any]]:
        req = build_chat_request(
            self.config, request, model_id, True, await self.auth()
        )
        response = await self.open_stream(req)
        translator = StreamTranslator()

        def finish() -> list[dict[str, Any]]:
            if not translator.complete:
                raise TransientDriverError(
                    f"{VENDOR} stream ended before the message was complete",
                    status=502,
                )
            return translator.finish()

        chunks = relay(
            response,
            sse_events(response, VENDOR),
            lambda event: translator.feed(*event),
            finish,
            VENDOR,
            done=lambda: translator.done,
        )
        async for chunk in chunks:
            yield chunk

    def accepts_messages_raw(self, model_id: str) -> bool:
        return True

    async def send_messages_raw(
        self, body: dict[str, Any], model_id: str, betas: tuple[str, ...]
    ) -> RawMessage:
        req = raw_request(self.config, body, model_id, False, await self.auth(), betas)
        response = await self.send(req)
        data = self.read_json(response)
        if not isinstance(data, dict):
            raise DriverError(f"{VENDOR} returned an unexpected response shape.")
        usage = RawUsage()
        usage.update(data.get("usage"))
        return RawMessage(data, usage, response.headers.get("request-id"))

    async def open_messages_raw(
        self, body: dict[str, Any], model_id: str, betas: tuple[str, ...]
    ) -> RawStream:
        req = raw_request(self.config, body, model_id, True, await self.auth(), betas)
        response = await self.open_stream(req)
        usage = RawUsage()
        events = relay_events(
            response, sse_raw_events(response, VENDOR), EventTracker(usage), VENDOR
        )
        request_id = response.headers.get("request-id")
        return RawStream(events, usage, self.config, VENDOR, request_id)

    async def count_tokens_raw(
        self, body: dict[str, Any], model_id: str, betas: Sequence[str] = ()
    ) -> int | None:
        req = count_request(self.config, body, model_id, await self.auth(), betas)
        try:
            return input_tokens(self.read_json(await self.send(req)))
        except ValueError:
            raise DriverError(
                f"{VENDOR} returned an unexpected count_tokens answer."
            ) from None

    async def _get_json(self, url: str) -> Any:
        headers = request_headers(self.config, await self.auth(), json_body=False)
        return self.read_json(await self.send(UpstreamRequest("GET", url, headers)))

    async def list_models(self) -> list[ModelInfo]:
        models: list[ModelInfo] = []
        after: str | None = None
        for _ in range(MAX_MODEL_PAGES):
            page, after = parse_models(
                await self._get_json(models_url(self.config, MODELS_PAGE_LIMIT, after))
            )
            models.extend(page)
            if not after:
                break
        return models

    async def health_check(self) -> None:
        parse_models(await self._get_json(models_url(self.config, 1)))

    def error_from_response(
        self, status: int, body: bytes, headers: Mapping[str, str]
    ) -> DriverError:
        error = error_from_anthropic(status, body, headers)
        log.info(
            "anthropic answered HTTP %s (%s), request-id=%s",
            status,
            error.code,
            headers.get("request-id", "-"),
        )
        return error
