"""``BedrockDriver``: the thin I/O layer around the pure Bedrock modules."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, cast

import httpx

from providers.drivers.base import Driver
from providers.drivers.bedrock.discovery import control_request, parse_models
from providers.drivers.bedrock.embeddings import (
    COHERE_BATCH,
    cohere_embed_body,
    cohere_vectors,
    embedding_family,
    embedding_inputs,
    embeddings_response,
    titan_embed_body,
)
from providers.drivers.bedrock.errors import VENDOR, parse_error
from providers.drivers.bedrock.native import (
    count_body,
    count_model_id,
    decode_chunk,
    input_tokens,
    is_claude,
    native_body,
)
from providers.drivers.bedrock.rerank import agent_url, parse_rerank, rerank_body
from providers.drivers.bedrock.response import (
    StreamTranslator,
    decode_event,
    parse_converse_response,
)
from providers.drivers.bedrock.signing import (
    EVENT_STREAM,
    dumps,
    model_url,
    region_of,
    sign_request,
)
from providers.drivers.bedrock.translate import (
    converse_request,
    forced_tool_choice,
    inline_images,
)
from providers.drivers.config import ModelInfo
from providers.drivers.errors import DriverError, malformed_stream
from providers.drivers.images import image_refs
from providers.drivers.passthrough import (
    EventTracker,
    RawEvent,
    RawMessage,
    RawStream,
    RawUsage,
    relay_events,
)
from providers.drivers.stream import relay
from providers.drivers.structured import Native

log = logging.getLogger(__name__)
# One embeddings request may fan out to one call per text: never all at once.
EMBED_CONCURRENCY = 8
# Rerank answers fit one page (numberOfResults asks for them all); a bound
# anyway, should the service page them.
RERANK_PAGES = 10


async def converse_events(
    response: httpx.Response,
) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    """ConverseStream's AWS event-stream messages as ``(event type, members)``."""
    async for headers, payload in event_messages(response):
        yield decode_event(headers, payload)


async def native_events(response: httpx.Response) -> AsyncIterator[RawEvent]:
    """InvokeModelWithResponseStream's messages as the Anthropic events they carry."""
    async for headers, payload in event_messages(response):
        yield decode_chunk(headers, payload)


async def event_messages(
    response: httpx.Response,
) -> AsyncIterator[tuple[Mapping[str, Any], bytes]]:
    """The body's AWS event-stream messages as ``(headers, payload)``."""
    from botocore.eventstream import EventStreamBuffer, ParserError

    buffer = EventStreamBuffer()
    async for data in response.aiter_raw():
        buffer.add_data(data)
        messages = iter(buffer)
        while True:
            try:
                message = next(messages)
            except StopIteration:
                break
            except ParserError as exc:
                raise malformed_stream(VENDOR, type(exc).__name__) from None
            # botocore-stubs type ``headers`` as int; botocore fills it with the
            # dict EventStreamHeaderParser.parse returns.
            headers = cast("Mapping[str, Any]", message.headers)
            yield headers, message.payload


class BedrockDriver(Driver):
    vendor = VENDOR

    def error_from_response(
        self, status: int, body: bytes, headers: Mapping[str, str]
    ) -> DriverError:
        return parse_error(status, body, headers)

    async def _control(
        self, path: str, query: dict[str, str] | None = None
    ) -> dict[str, Any]:
        """One control-plane GET through the guarded client; a JSON object back."""
        data = self.read_json(
            await self.send(control_request(self.config, path, query))
        )
        if not isinstance(data, dict):
            raise DriverError("Bedrock returned an unexpected control-plane body.")
        return data

    async def _foundation_models(self) -> list[dict[str, Any]]:
        data = await self._control("/foundation-models")
        return list(data.get("modelSummaries") or [])

    async def _inference_profiles(self) -> list[dict[str, Any]]:
        profiles: list[dict[str, Any]] = []
        token: str | None = None
        for _ in range(100):
            query = {"maxResults": "1000"}
            if token:
                query["nextToken"] = token
            data = await self._control("/inference-profiles", query)
            profiles.extend(data.get("inferenceProfileSummaries") or [])
            token = data.get("nextToken")
            if not token:
                break
        return profiles

    async def _images(self, request: Mapping[str, Any]) -> dict[str, tuple[str, str]]:
        refs = image_refs(request)
        return inline_images(refs, await self.fetch_images(refs))

    def native_output(self, model_id: str) -> Native:
        """Converse has no JSON modes (a forced tool emulates them); forcing a
        tool is per model family (``translate.forced_tool_choice``)."""
        any_tool, named = forced_tool_choice(model_id)
        return Native(
            json_object=False, json_schema=False, tool_any=any_tool, tool_named=named
        )

    async def chat(self, request: dict[str, Any], model_id: str) -> dict[str, Any]:
        plan = self.structured_plan(request, model_id)
        images = await self._images(plan.request)
        req = converse_request(self.config, plan.request, model_id, False, images)
        response = await self.send(req)
        data = self.read_json(response)
        return plan.answer(
            parse_converse_response(
                data, model_id, response.headers.get("x-amzn-requestid")
            )
        )

    async def chat_stream(
        self, request: dict[str, Any], model_id: str
    ) -> AsyncIterator[dict[str, Any]]:
        plan = self.structured_plan(request, model_id)
        async for chunk in plan.stream(self._stream(plan.request, model_id)):
            yield chunk

    async def _stream(
        self, request: dict[str, Any], model_id: str
    ) -> AsyncIterator[dict[str, Any]]:
        images = await self._images(request)
        req = converse_request(self.config, request, model_id, True, images)
        response = await self.open_stream(req)
        translator = StreamTranslator()
        chunks = relay(
            response,
            converse_events(response),
            lambda event: translator.feed(*event),
            translator.finish,
            VENDOR,
        )
        async for chunk in chunks:
            yield chunk

    def accepts_messages_raw(self, model_id: str) -> bool:
        """Claude models take Anthropic's body natively (``native.py``)."""
        return is_claude(model_id)

    async def send_messages_raw(
        self, body: dict[str, Any], model_id: str, betas: tuple[str, ...]
    ) -> RawMessage:
        url = model_url(self.config, model_id, "invoke")
        req = sign_request(self.config, "POST", url, dumps(native_body(body, betas)))
        response = await self.send(req)
        data = self.read_json(response)
        if not isinstance(data, dict):
            raise DriverError("Bedrock returned an unexpected response shape.")
        usage = RawUsage()
        usage.update(data.get("usage"))
        return RawMessage(data, usage, response.headers.get("x-amzn-requestid"))

    async def open_messages_raw(
        self, body: dict[str, Any], model_id: str, betas: tuple[str, ...]
    ) -> RawStream:
        url = model_url(self.config, model_id, "invoke-with-response-stream")
        payload = dumps(native_body(body, betas))
        req = sign_request(self.config, "POST", url, payload, accept=EVENT_STREAM)
        response = await self.open_stream(req)
        usage = RawUsage()
        events = relay_events(
            response, native_events(response), EventTracker(usage), VENDOR
        )
        request_id = response.headers.get("x-amzn-requestid")
        return RawStream(events, usage, self.config, VENDOR, request_id)

    async def count_tokens_raw(
        self, body: dict[str, Any], model_id: str, betas: Sequence[str] = ()
    ) -> int | None:
        """Bedrock's CountTokens for a Claude model; None where Bedrock refuses
        to count (400: models and regions without it), so the gateway estimates."""
        if not is_claude(model_id):
            return None
        url = model_url(self.config, count_model_id(model_id), "count-tokens")
        req = sign_request(self.config, "POST", url, dumps(count_body(body, betas)))
        try:
            response = await self.send(req)
        except DriverError as err:
            if err.status == 400:
                return None
            raise
        try:
            return input_tokens(self.read_json(response))
        except ValueError:
            raise DriverError(
                "Bedrock returned an unexpected CountTokens answer."
            ) from None

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

    def embed_calls(self, request: Mapping[str, Any], model_id: str) -> int:
        """Titan embeds one text per call, Cohere a batch of 96."""
        value = request.get("input")
        count = len(value) if isinstance(value, list) else 1
        if "titan-embed" in model_id:
            return max(1, count)
        return max(1, -(-count // COHERE_BATCH))

    async def _invoke_all(
        self, model_id: str, bodies: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """Every body, at most ``embed_concurrency`` calls in flight (default 8)."""
        limit = int(self.config.config.get("embed_concurrency") or EMBED_CONCURRENCY)
        gate = asyncio.Semaphore(max(1, limit))

        async def one(body: dict[str, Any]) -> dict[str, Any]:
            async with gate:
                return await self._invoke(model_id, body)

        return list(await asyncio.gather(*(one(b) for b in bodies)))

    async def embed(self, request: dict[str, Any], model_id: str) -> dict[str, Any]:
        family = embedding_family(model_id)
        texts = embedding_inputs(request)
        encoding = request.get("encoding_format")
        if family == "titan":
            bodies = [
                titan_embed_body(model_id, t, request.get("dimensions")) for t in texts
            ]
            results = await self._invoke_all(model_id, bodies)
            vectors = [list(r.get("embedding") or []) for r in results]
            tokens = sum(int(r.get("inputTextTokenCount") or 0) for r in results)
            return embeddings_response(vectors, tokens, model_id, encoding)
        batches = [
            texts[i : i + COHERE_BATCH] for i in range(0, len(texts), COHERE_BATCH)
        ]
        bodies = [cohere_embed_body(batch, request) for batch in batches]
        results = await self._invoke_all(model_id, bodies)
        vectors = [v for r in results for v in cohere_vectors(r)]
        if len(vectors) != len(texts):
            raise DriverError("Bedrock returned the wrong number of embeddings.")
        return embeddings_response(vectors, 0, model_id, encoding)

    async def rerank(self, request: dict[str, Any], model_id: str) -> dict[str, Any]:
        region = region_of(self.config)
        body = rerank_body(request, model_id, region)
        pages: list[Any] = []
        for _ in range(RERANK_PAGES):
            req = sign_request(
                self.config, "POST", agent_url(self.config, region), dumps(body)
            )
            page = self.read_json(await self.send(req))
            pages.append(page)
            token = page.get("nextToken") if isinstance(page, dict) else None
            if not token:
                break
            body = {**body, "nextToken": token}
        return parse_rerank(pages, len(request["documents"]))

    async def list_models(self) -> list[ModelInfo]:
        foundation = await self._foundation_models()
        try:
            profiles = await self._inference_profiles()
        except DriverError as exc:
            # Many IAM policies allow ListFoundationModels only; the foundation
            # list is still useful without the profiles.
            if exc.code != "upstream_auth_error":
                raise
            # The code only: the message is scrubbed at the boundary, later.
            log.warning("Bedrock inference profiles not listed (%s)", exc.code)
            profiles = []
        return parse_models(foundation, profiles)

    async def health_check(self) -> None:
        await self._foundation_models()
