"""``BedrockDriver``: the thin I/O layer around the pure Bedrock modules."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx

from providers.drivers.base import (
    Driver,
    DriverError,
    ModelInfo,
    malformed_stream,
    stream_error,
)
from providers.drivers.bedrock.control import (
    list_foundation_models,
    list_inference_profiles,
    parse_models,
)
from providers.drivers.bedrock.embeddings import (
    COHERE_BATCH,
    cohere_embed_body,
    cohere_vectors,
    embedding_family,
    embedding_inputs,
    embeddings_response,
    titan_embed_body,
)
from providers.drivers.bedrock.errors import (
    VENDOR,
    error_from_botocore,
    parse_error,
    scrubbed,
)
from providers.drivers.bedrock.response import (
    StreamTranslator,
    decode_event,
    parse_converse_response,
)
from providers.drivers.bedrock.signing import dumps, model_url, sign_request
from providers.drivers.bedrock.translate import converse_request, inline_images
from providers.drivers.common import image_refs

log = logging.getLogger(__name__)


class BedrockDriver(Driver):
    vendor = VENDOR

    def error_from_response(
        self, status: int, body: bytes, headers: Mapping[str, str]
    ) -> DriverError:
        return scrubbed(parse_error(status, body, headers), self.config)

    async def _control(self, fn: Any) -> Any:
        try:
            return await asyncio.to_thread(fn, self.config)
        except DriverError:
            raise
        except Exception as exc:
            raise scrubbed(error_from_botocore(exc), self.config) from None

    async def _images(self, request: Mapping[str, Any]) -> dict[str, tuple[str, str]]:
        refs = image_refs(request)
        return inline_images(refs, await self.fetch_images(refs))

    async def chat(self, request: dict[str, Any], model_id: str) -> dict[str, Any]:
        images = await self._images(request)
        req = converse_request(self.config, request, model_id, False, images)
        response = await self.send(req)
        data = self.read_json(response)
        return parse_converse_response(
            data, model_id, response.headers.get("x-amzn-requestid")
        )

    async def chat_stream(
        self, request: dict[str, Any], model_id: str
    ) -> AsyncIterator[dict[str, Any]]:
        from botocore.eventstream import EventStreamBuffer, ParserError

        images = await self._images(request)
        req = converse_request(self.config, request, model_id, True, images)
        response = await self.open_stream(req)
        try:
            buffer = EventStreamBuffer()
            translator = StreamTranslator()
            try:
                async for data in response.aiter_raw():
                    buffer.add_data(data)
                    for message in buffer:
                        event, payload = decode_event(message.headers, message.payload)
                        for chunk in translator.feed(event, payload):
                            yield chunk
            except httpx.HTTPError as exc:
                raise stream_error(exc, VENDOR) from None
            except ParserError as exc:
                raise malformed_stream(VENDOR, type(exc).__name__) from None
            except DriverError as exc:
                raise scrubbed(exc, self.config) from None
            for chunk in translator.finish():
                yield chunk
        finally:
            await response.aclose()

    async def _invoke(self, model_id: str, body: dict[str, Any]) -> dict[str, Any]:
        req = sign_request(
            self.config,
            "POST",
            model_url(self.config, model_id, "invoke"),
            dumps(body),
        )
        data = self.read_json(await self.send(req))
        if not isinstance(data, dict):
            raise DriverError("Bedrock returned an unexpected embeddings body.")
        return data

    async def embed(self, request: dict[str, Any], model_id: str) -> dict[str, Any]:
        family = embedding_family(model_id)
        texts = embedding_inputs(request)
        encoding = request.get("encoding_format")
        if family == "titan":
            bodies = [
                titan_embed_body(model_id, t, request.get("dimensions")) for t in texts
            ]
            results = await asyncio.gather(*(self._invoke(model_id, b) for b in bodies))
            vectors = [list(r.get("embedding") or []) for r in results]
            tokens = sum(int(r.get("inputTextTokenCount") or 0) for r in results)
            return embeddings_response(vectors, tokens, model_id, encoding)
        batches = [
            texts[i : i + COHERE_BATCH] for i in range(0, len(texts), COHERE_BATCH)
        ]
        bodies = [cohere_embed_body(batch, request) for batch in batches]
        results = await asyncio.gather(*(self._invoke(model_id, b) for b in bodies))
        vectors = [v for r in results for v in cohere_vectors(r)]
        if len(vectors) != len(texts):
            raise DriverError("Bedrock returned the wrong number of embeddings.")
        return embeddings_response(vectors, 0, model_id, encoding)

    async def list_models(self) -> list[ModelInfo]:
        foundation = await self._control(list_foundation_models)
        try:
            profiles = await self._control(list_inference_profiles)
        except DriverError as exc:
            # Many IAM policies allow ListFoundationModels only; the foundation
            # list is still useful without the profiles.
            if exc.code != "upstream_auth_error":
                raise
            log.warning("Bedrock inference profiles not listed: %s", exc.message)
            profiles = []
        return parse_models(foundation, profiles)

    async def health_check(self) -> None:
        await self._control(list_foundation_models)
