"""``GeminiDriver``: the thin I/O layer around the pure Gemini modules."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Mapping
from typing import Any
from urllib.parse import quote

import httpx

from providers.drivers.base import Driver
from providers.drivers.config import ModelInfo, UpstreamRequest
from providers.drivers.errors import DriverError
from providers.drivers.gemini.discovery import parse_models_page
from providers.drivers.gemini.embeddings import (
    build_embed_bodies,
    embeddings_result,
    parse_embed_vectors,
)
from providers.drivers.gemini.errors import VENDOR, error_from_gemini
from providers.drivers.gemini.response import (
    EventDecoder,
    StreamTranslator,
    parse_chat_response,
)
from providers.drivers.gemini.translate import build_chat_request
from providers.drivers.gemini.urls import base_url, model_path
from providers.drivers.images import image_refs
from providers.drivers.stream import relay


async def gemini_events(response: httpx.Response) -> AsyncIterator[dict[str, Any]]:
    """Gemini's SSE events, decoded by its tolerant ``EventDecoder``."""
    decoder = EventDecoder()
    async for line in response.aiter_lines():
        for event in decoder.feed_line(line):
            yield event
    for event in decoder.close():
        yield event


class GeminiDriver(Driver):
    vendor = VENDOR
    # Gemini caps a whole inline request near 20 MB and base64 adds a third.
    default_image_max_bytes = 10 * 1024 * 1024

    def error_from_response(
        self, status: int, body: bytes, headers: Mapping[str, str]
    ) -> DriverError:
        return error_from_gemini(status, body, headers)

    def image_max_bytes(self) -> int:
        legacy = self.config.config.get("max_image_bytes")  # this driver's old key
        return int(legacy) if legacy else super().image_max_bytes()

    async def _images(self, request: Mapping[str, Any]) -> dict[str, tuple[str, str]]:
        fetched = await self.fetch_images(image_refs(request))
        return {
            url: (mime, base64.b64encode(data).decode())
            for url, (mime, data) in fetched.items()
        }

    async def _request(
        self, request: Mapping[str, Any], model_id: str, stream: bool
    ) -> UpstreamRequest:
        images = await self._images(request)
        headers = await self.auth()
        return build_chat_request(
            self.config, request, model_id, stream, headers, images
        )

    async def chat(self, request: dict[str, Any], model_id: str) -> dict[str, Any]:
        req = await self._request(request, model_id, stream=False)
        response = await self.send(req)
        return parse_chat_response(self.read_json(response), model_id)

    async def chat_stream(
        self, request: dict[str, Any], model_id: str
    ) -> AsyncIterator[dict[str, Any]]:
        req = await self._request(request, model_id, stream=True)
        response = await self.open_stream(req)
        translator = StreamTranslator()
        chunks = relay(
            response,
            gemini_events(response),
            translator.feed,
            translator.finish,
            self.vendor,
        )
        async for chunk in chunks:
            yield chunk

    def embed_calls(self, request: Mapping[str, Any], model_id: str) -> int:
        """One batchEmbedContents call per ``embed_batch_size`` inputs (100)."""
        value = request.get("input")
        count = len(value) if isinstance(value, list) else 1
        size = max(1, int(self.config.config.get("embed_batch_size") or 100))
        return max(1, -(-count // size))

    async def embed(self, request: dict[str, Any], model_id: str) -> dict[str, Any]:
        bodies = build_embed_bodies(
            request,
            model_id,
            int(self.config.config.get("embed_batch_size") or 100),
            self.config.config.get("embedding_task_type"),
        )
        headers = {**await self.auth(), "Content-Type": "application/json"}
        url = f"{base_url(self.config)}/{model_path(model_id)}:batchEmbedContents"
        vectors: list[list[float]] = []
        for body in bodies:
            response = await self.send(UpstreamRequest("POST", url, headers, body))
            vectors += parse_embed_vectors(
                self.read_json(response), len(body["requests"])
            )
        return embeddings_result(vectors, model_id, request.get("encoding_format"))

    async def _models_page(self, page_size: int, token: str | None) -> Any:
        params = f"?pageSize={page_size}"
        if token:
            params += f"&pageToken={quote(token, safe='')}"
        req = UpstreamRequest(
            "GET", f"{base_url(self.config)}/models{params}", await self.auth()
        )
        return self.read_json(await self.send(req))

    async def list_models(self) -> list[ModelInfo]:
        models: list[ModelInfo] = []
        token: str | None = None
        seen: set[str] = set()
        for _ in range(100):  # a hard stop against a token loop
            page, token = parse_models_page(await self._models_page(1000, token))
            models += page
            if not token or token in seen:
                break
            seen.add(token)
        return models

    async def health_check(self) -> None:
        await self._models_page(1, None)
