"""The OpenAI driver: the thin I/O layer around the pure translation modules.

Serves OpenAI, ``openai_compatible`` and the presets; the Azure driver and the
compatible presets subclass it and override URLs, body and error hooks. A
provider whose ``wire_api`` is ``responses`` is called at ``POST /responses``:
``chat`` and ``chat_stream`` translate (``responses_request`` /
``responses_response``), ``responses_raw`` passes the client's body through.
Every provider of the family serves the legacy ``POST /completions`` itself:
``completions_raw`` passes the client's body through.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx
import orjson

from providers.drivers.base import Driver
from providers.drivers.config import DriverConfig, ModelInfo, UpstreamRequest
from providers.drivers.errors import (
    DriverError,
)
from providers.drivers.openai.completions_raw import (
    CompletionsTracker,
    RawCompletion,
    RawCompletionStream,
    canonical_usage,
    completion_events,
)
from providers.drivers.openai.discovery import parse_models
from providers.drivers.openai.errors import error_from_stream_event, openai_error
from providers.drivers.openai.rerank import (
    parse_rerank,
    rerank_api,
    rerank_body,
    rerank_url,
)
from providers.drivers.openai.response import (
    OpenAIStreamTranslator,
    completion_to_chunks,
    parse_chat_response,
    parse_embeddings_response,
)
from providers.drivers.openai.responses_raw import (
    RawResponse,
    RawResponseStream,
    ResponsesTracker,
    ResponsesUsage,
)
from providers.drivers.openai.responses_request import (
    build_responses_body,
    uses_responses,
)
from providers.drivers.openai.responses_response import (
    ResponsesStreamTranslator,
    parse_responses_response,
)
from providers.drivers.openai.translate import (
    build_chat_body,
    build_completions_body,
    build_embeddings_body,
)
from providers.drivers.passthrough import raw_body, relay_events, sse_raw_events
from providers.drivers.registry import vendor_spec
from providers.drivers.stream import relay, sse_events

# What ``sse_events`` yields for ``data: [DONE]``.
DONE = {"[DONE]": True}

# -- I/O layer -------------------------------------------------------------------


class OpenAIDriver(Driver):
    """OpenAI, ``openai_compatible`` and the presets (base URL includes /v1)."""

    vendor = "OpenAI"

    def __init__(self, config: DriverConfig, client: httpx.AsyncClient) -> None:
        super().__init__(config, client)
        spec = vendor_spec(config.provider_type)
        if spec is not None:
            self.vendor = spec.label

    # hooks the Azure driver overrides
    @property
    def base(self) -> str:
        return self.config.base_url.rstrip("/")

    def chat_url(self, model_id: str) -> str:
        return f"{self.base}/chat/completions"

    def embeddings_url(self, model_id: str) -> str:
        return f"{self.base}/embeddings"

    def responses_url(self, model_id: str) -> str:
        return f"{self.base}/responses"

    def completions_url(self, model_id: str) -> str:
        return f"{self.base}/completions"

    def responses_model(self, model_id: str) -> str:
        """The ``model`` a Responses body names (Azure: the deployment)."""
        return model_id

    def models_url(self) -> str:
        return f"{self.base}/models"

    def chat_body(
        self, request: dict[str, Any], model_id: str, stream: bool
    ) -> dict[str, Any]:
        return build_chat_body(self.config, request, model_id, stream)

    def embeddings_body(self, request: dict[str, Any], model_id: str) -> dict[str, Any]:
        return build_embeddings_body(self.config, request, model_id)

    def completions_body(
        self, request: dict[str, Any], model_id: str, stream: bool
    ) -> dict[str, Any]:
        return build_completions_body(self.config, request, model_id, stream)

    def parse_models(self, data: Any) -> list[ModelInfo]:
        return parse_models(data)

    def error_from_response(
        self, status: int, body: bytes, headers: Mapping[str, str]
    ) -> DriverError:
        return openai_error(status, body, headers, self.vendor, self.config)

    # I/O

    async def headers(self, accept: str = "application/json") -> dict[str, str]:
        headers = await self.auth()
        headers["Content-Type"] = "application/json"
        headers["Accept"] = accept
        return headers

    async def chat(self, request: dict[str, Any], model_id: str) -> dict[str, Any]:
        if uses_responses(self.config):
            return await self._responses_chat(request, model_id)
        req = UpstreamRequest(
            "POST",
            self.chat_url(model_id),
            await self.headers(),
            json=self.chat_body(request, model_id, stream=False),
        )
        response = await self.send(req)
        return parse_chat_response(self.read_json(response), self.vendor, self.config)

    async def chat_stream(
        self, request: dict[str, Any], model_id: str
    ) -> AsyncIterator[dict[str, Any]]:
        if uses_responses(self.config):
            async for piece in self._responses_chat_stream(request, model_id):
                yield piece
            return
        req = UpstreamRequest(
            "POST",
            self.chat_url(model_id),
            await self.headers("text/event-stream"),
            json=self.chat_body(request, model_id, stream=True),
        )
        response = await self.open_stream(req)
        translator = OpenAIStreamTranslator(self.vendor, self.config)
        if "application/json" in response.headers.get("content-type", ""):
            # The server ignored ``stream`` and answered in one piece.
            whole = relay(
                response,
                self._whole_answer(response),
                lambda data: completion_to_chunks(data, self.vendor, self.config),
                list,
                self.vendor,
            )
            async for chunk in whole:
                yield chunk
            return
        ended = False

        def feed(event: tuple[str, dict[str, Any]]) -> list[dict[str, Any]]:
            nonlocal ended
            if event[1] == DONE:
                ended = True
                return []
            return translator.feed(event[1])

        def finish() -> list[dict[str, Any]]:
            if not ended and not translator.finished:
                raise DriverError(
                    f"{self.vendor} stream ended before the answer was complete.",
                    status=502,
                    code="upstream_error",
                )
            return translator.finish()

        events = sse_events(response, self.vendor, end="[DONE]")
        async for chunk in relay(response, events, feed, finish, self.vendor):
            yield chunk

    async def _whole_answer(self, response: httpx.Response) -> AsyncIterator[Any]:
        try:
            yield orjson.loads(await response.aread())
        except ValueError:
            raise DriverError(
                f"{self.vendor} answered with invalid JSON.", status=502
            ) from None

    # -- the Responses wire (``wire_api: responses``) --

    def _responses_request(
        self, body: dict[str, Any], model_id: str, headers: dict[str, str]
    ) -> UpstreamRequest:
        return UpstreamRequest("POST", self.responses_url(model_id), headers, json=body)

    async def _responses_chat(
        self, request: dict[str, Any], model_id: str
    ) -> dict[str, Any]:
        body = build_responses_body(request, self.responses_model(model_id), False)
        req = self._responses_request(body, model_id, await self.headers())
        response = await self.send(req)
        data = self.read_json(response)
        return parse_responses_response(data, self.vendor, self.config)

    async def _responses_chat_stream(
        self, request: dict[str, Any], model_id: str
    ) -> AsyncIterator[dict[str, Any]]:
        body = build_responses_body(request, self.responses_model(model_id), True)
        headers = await self.headers("text/event-stream")
        response = await self.open_stream(
            self._responses_request(body, model_id, headers)
        )
        translator = ResponsesStreamTranslator(self.vendor, self.config)
        chunks = relay(
            response,
            sse_events(response, self.vendor),
            lambda event: translator.feed(event[1]),
            translator.finish,
            self.vendor,
            done=lambda: translator.done,
        )
        async for chunk in chunks:
            yield chunk

    def accepts_responses_raw(self, model_id: str) -> bool:
        return uses_responses(self.config)

    async def send_responses_raw(
        self, body: dict[str, Any], model_id: str
    ) -> RawResponse:
        sent = raw_body(body, self.responses_model(model_id), False)
        req = self._responses_request(sent, model_id, await self.headers())
        response = await self.send(req)
        data = self.read_json(response)
        if not isinstance(data, dict):
            raise DriverError(f"{self.vendor} returned an unexpected response shape.")
        usage = ResponsesUsage()
        usage.update(data.get("usage"))
        return RawResponse(data, usage, response.headers.get("x-request-id"))

    async def open_responses_raw(
        self, body: dict[str, Any], model_id: str
    ) -> RawResponseStream:
        sent = raw_body(body, self.responses_model(model_id), True)
        headers = await self.headers("text/event-stream")
        response = await self.open_stream(
            self._responses_request(sent, model_id, headers)
        )
        usage = ResponsesUsage()
        tracker = ResponsesTracker(usage, self.vendor, self.config)
        events = relay_events(
            response, sse_raw_events(response, self.vendor), tracker, self.vendor
        )
        request_id = response.headers.get("x-request-id")
        return RawResponseStream(events, usage, self.config, self.vendor, request_id)

    # -- the legacy Completions endpoint, passed through --

    def accepts_completions_raw(self, model_id: str) -> bool:
        return True

    def _completions_request(
        self, body: dict[str, Any], model_id: str, stream: bool, headers: dict[str, str]
    ) -> UpstreamRequest:
        sent = self.completions_body(body, model_id, stream)
        url = self.completions_url(model_id)
        return UpstreamRequest("POST", url, headers, json=sent)

    async def send_completions_raw(
        self, body: dict[str, Any], model_id: str
    ) -> RawCompletion:
        req = self._completions_request(body, model_id, False, await self.headers())
        response = await self.send(req)
        data = self.read_json(response)
        if isinstance(data, dict) and data.get("error"):
            raise error_from_stream_event(data, self.vendor, self.config)
        if not isinstance(data, dict) or not isinstance(data.get("choices"), list):
            raise DriverError(f"{self.vendor} returned an unexpected completion shape.")
        return RawCompletion(
            data,
            canonical_usage(data.get("usage")),
            response.headers.get("x-request-id"),
        )

    async def open_completions_raw(
        self, body: dict[str, Any], model_id: str
    ) -> RawCompletionStream:
        headers = await self.headers("text/event-stream")
        req = self._completions_request(body, model_id, True, headers)
        response = await self.open_stream(req)
        tracker = CompletionsTracker(self.vendor, self.config)
        events = relay_events(
            response, completion_events(response, self.vendor), tracker, self.vendor
        )
        request_id = response.headers.get("x-request-id")
        return RawCompletionStream(
            events, tracker, self.config, self.vendor, request_id
        )

    async def embed(self, request: dict[str, Any], model_id: str) -> dict[str, Any]:
        req = UpstreamRequest(
            "POST",
            self.embeddings_url(model_id),
            await self.headers(),
            json=self.embeddings_body(request, model_id),
        )
        response = await self.send(req)
        return parse_embeddings_response(
            self.read_json(response), request.get("encoding_format"), self.vendor
        )

    async def rerank(self, request: dict[str, Any], model_id: str) -> dict[str, Any]:
        dialect = rerank_api(self.config)
        req = UpstreamRequest(
            "POST",
            rerank_url(self.config, dialect),
            await self.headers(),
            json=rerank_body(dialect, request, model_id),
        )
        data = self.read_json(await self.send(req))
        return parse_rerank(dialect, data, len(request["documents"]), self.vendor)

    async def list_models(self) -> list[ModelInfo]:
        headers = await self.headers()
        headers.pop("Content-Type")
        response = await self.send(UpstreamRequest("GET", self.models_url(), headers))
        return self.parse_models(self.read_json(response))
