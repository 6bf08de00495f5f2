"""``OllamaDriver``: the thin I/O layer around the pure Ollama modules."""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import AsyncIterator, Mapping
from typing import Any

from providers.drivers.base import Driver
from providers.drivers.config import ModelInfo, UpstreamRequest
from providers.drivers.errors import DriverError, error_from_exception
from providers.drivers.images import image_refs
from providers.drivers.ollama.discovery import apply_show, parse_models
from providers.drivers.ollama.embeddings import build_embed_body, parse_embed_response
from providers.drivers.ollama.errors import VENDOR, error_from_body
from providers.drivers.ollama.response import (
    OllamaStreamTranslator,
    parse_chat_response,
)
from providers.drivers.ollama.translate import (
    build_chat_body,
    build_chat_request,
    placeholder_images,
)
from providers.drivers.ollama.urls import api_url
from providers.drivers.stream import json_lines, relay
from providers.drivers.structured import Native

log = logging.getLogger(__name__)


class OllamaDriver(Driver):
    vendor = VENDOR

    async def _headers(self) -> dict[str, str]:
        return {**(await self.auth()), "Content-Type": "application/json"}

    def error_from_response(
        self, status: int, body: bytes, headers: Mapping[str, str]
    ) -> DriverError:
        return error_from_body(status, body, headers)

    # images ---------------------------------------------------------------

    async def _fetch_images(self, request: Mapping[str, Any]) -> dict[str, str]:
        fetched = await self.fetch_images(image_refs(request))
        return {
            url: base64.b64encode(data).decode() for url, (_, data) in fetched.items()
        }

    # chat -------------------------------------------------------------------

    async def _chat_request(
        self, request: dict[str, Any], model_id: str, stream: bool
    ) -> UpstreamRequest:
        # Translate once before any I/O so caller mistakes never cost a fetch.
        build_chat_body(
            self.config, request, model_id, stream, placeholder_images(request)
        )
        fetched = await self._fetch_images(request)
        return build_chat_request(
            self.config, request, model_id, stream, await self.auth(), fetched
        )

    def native_output(self, model_id: str) -> Native:
        """JSON modes natively (``format``); forcing a tool only by the
        admin's ``tool_choice_fallback: auto`` (a downgrade they chose), else
        emulated through ``format`` (``structured.py``)."""
        lenient = self.config.config.get("tool_choice_fallback") == "auto"
        return Native(tool_any=lenient, tool_named=lenient)

    async def chat(self, request: dict[str, Any], model_id: str) -> dict[str, Any]:
        plan = self.structured_plan(request, model_id)
        req = await self._chat_request(plan.request, model_id, stream=False)
        response = await self.send(req)
        return plan.answer(parse_chat_response(self.read_json(response), model_id))

    async def chat_stream(
        self, request: dict[str, Any], model_id: str
    ) -> AsyncIterator[dict[str, Any]]:
        plan = self.structured_plan(request, model_id)
        async for chunk in plan.stream(self._stream(plan.request, model_id)):
            yield chunk

    async def _stream(
        self, request: dict[str, Any], model_id: str
    ) -> AsyncIterator[dict[str, Any]]:
        req = await self._chat_request(request, model_id, stream=True)
        response = await self.open_stream(req)
        translator = OllamaStreamTranslator()
        chunks = relay(
            response,
            json_lines(response, VENDOR),
            translator.feed,
            translator.finish,
            VENDOR,
            done=lambda: translator.done,
        )
        async for chunk in chunks:
            yield chunk

    # embeddings ---------------------------------------------------------------

    async def embed(self, request: dict[str, Any], model_id: str) -> dict[str, Any]:
        body = build_embed_body(self.config, request, model_id)
        req = UpstreamRequest(
            "POST", api_url(self.config, "embed"), await self._headers(), json=body
        )
        response = await self.send(req)
        return parse_embed_response(self.read_json(response), request, model_id)

    # discovery ------------------------------------------------------------------

    async def _tags(self) -> Any:
        req = UpstreamRequest("GET", api_url(self.config, "tags"), await self.auth())
        return self.read_json(await self.send(req))

    async def list_models(self) -> list[ModelInfo]:
        models = parse_models(await self._tags())
        if not self.config.config.get("discover_details", True) or not models:
            return models
        headers = await self._headers()
        gate = asyncio.Semaphore(4)

        async def detail(model: ModelInfo) -> ModelInfo:
            req = UpstreamRequest(
                "POST",
                api_url(self.config, "show"),
                headers,
                json={"model": model.model_id},
            )
            async with gate:
                try:
                    show = self.read_json(await self.send(req))
                except DriverError as exc:
                    # The code only: the message is scrubbed at the boundary, later.
                    log.info(
                        "ollama: /api/show %s failed (%s)", model.model_id, exc.code
                    )
                    return model
            return apply_show(model, show)

        return list(await asyncio.gather(*(detail(m) for m in models)))

    async def health_check(self) -> None:
        try:
            parse_models(await self._tags())
        except DriverError:
            raise
        except Exception as exc:
            raise error_from_exception(exc, VENDOR) from None
