"""The OpenAI-compatible REST gateway: /v1/chat/completions, /v1/embeddings, /v1/models.

Views are Django REST framework ``APIView`` subclasses with a native async
``dispatch``: DRF's Request, parsers and exception types, but no thread hop per
request (adrf runs ``initial()`` through ``sync_to_async``, which the hot path
cannot afford). The path per call: authenticate the key (cached), resolve the
model name (cached), admit against limits, call the driver on the pooled client,
relay the answer (SSE when streaming, ``gateway.relay``), journal its usage record
before the last byte.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import orjson
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from rest_framework.exceptions import ParseError, UnsupportedMediaType
from rest_framework.views import APIView

from accounts.network import client_address
from gateway import estimate
from gateway.auth import KeyInfo, authenticate
from gateway.db import run_db
from gateway.errors import (
    GatewayError,
    bad_request,
    error_response,
    method_not_allowed,
    model_not_allowed,
    model_not_found,
    rate_limited,
)
from gateway.fields import check_model
from gateway.limits import admit
from gateway.listing import list_models_for
from gateway.parsers import FastJSONParser
from gateway.relay import record_call, relay
from gateway.routing import Candidate, candidates_for
from gateway.state import state
from gateway.validation import validate_chat, validate_embeddings
from providers.drivers import (
    DriverError,
    TransientDriverError,
    get_driver,
    new_completion_id,
    now,
)
from providers.http import get_client

logger = logging.getLogger(__name__)
T = TypeVar("T")


def _json(data: Any, status: int = 200) -> HttpResponse:
    return HttpResponse(
        orjson.dumps(data), status=status, content_type="application/json"
    )


class GatewayView(APIView):
    """DRF view with an async dispatch; every error leaves in OpenAI's envelope."""

    authentication_classes: list[Any] = []
    permission_classes: list[Any] = []
    parser_classes = [FastJSONParser]

    async def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        self.args, self.kwargs = args, kwargs
        drf_request = self.initialize_request(request, *args, **kwargs)
        self.request = drf_request
        try:
            # config/asgi.py authenticated before reading the body; another
            # entry point (WSGI, tests) has not.
            key = getattr(request, "gateway_key", None)
            if key is None:
                await state().refresh()
                key = await authenticate(
                    request.headers.get("Authorization"),
                    client_address(request.META),
                )
            method = str(request.method).lower()
            handler = getattr(self, method, None)
            if method not in self.http_method_names or handler is None:
                # DRF's own check, which this dispatch replaces (else a 500).
                raise method_not_allowed(str(request.method))
            return await handler(drf_request, key, *args, **kwargs)
        except DriverError as err:
            return error_response(err)
        except (ParseError, UnsupportedMediaType) as exc:
            return error_response(bad_request(f"Invalid request body: {exc.detail}"))
        except Exception:
            # A bug of ours: still answer in the envelope the SDKs understand.
            logger.exception("gateway error on %s", request.path)
            return error_response(
                DriverError(
                    "The gateway failed to handle the request.",
                    status=500,
                    code="internal_error",
                )
            )

    def body(self, request: Any) -> dict[str, Any]:
        try:
            data = request.data
        except ParseError:
            raise bad_request(
                "We could not parse the JSON body of your request. "
                "(HINT: send valid JSON with Content-Type: application/json.)"
            ) from None
        if not isinstance(data, dict):
            raise bad_request("The request body must be a JSON object.")
        return data


async def _resolve(key: KeyInfo, name: str, model_type: str) -> list[Candidate]:
    """The candidates for a name that ``validation.check_model`` accepted."""
    cached = state()
    cache_key = (key.principal_key, name)
    if cached.unknown_routes.get(cache_key):
        raise model_not_found(name)
    found = await cached.routes.get_or_load(
        cache_key, lambda: run_db(candidates_for, key.principal, name), keep=bool
    )
    if not found:
        # Unknown names have their own smaller cache: a flood of them cannot
        # push the known routes out.
        cached.unknown_routes.set(cache_key, True)
        raise model_not_found(name)
    if key.allowed_models and not any(c.names() & key.allowed_models for c in found):
        raise model_not_allowed(name)
    if key.allowed_models:
        found = [c for c in found if c.names() & key.allowed_models]
    typed = [c for c in found if c.model_type == model_type]
    if not typed:
        raise bad_request(
            f"The model `{name}` is not a{'n' if model_type[0] in 'aeiou' else ''} "
            f"{model_type} model.",
            "model",
            "invalid_model_type",
        )
    return typed


async def _admit(key: KeyInfo, candidate: Candidate, cost: int = 1) -> None:
    refused = await admit(
        [
            (f"key:{key.key_pk}", key.requests_per_minute),
            (f"model:{candidate.model_pk}", candidate.model_rpm),
            (f"provider:{candidate.provider_pk}", candidate.provider_rpm),
        ],
        cost,
    )
    if refused:
        label, retry_after = refused
        scope = label.split(":", 1)[0]
        raise rate_limited(
            f"Rate limit reached for this {'API key' if scope == 'key' else scope} "
            "(requests per minute). Retry after the time in Retry-After.",
            retry_after,
        )


def _driver(candidate: Candidate) -> Any:
    if candidate.driver_config is None:
        raise DriverError(
            f"The provider '{candidate.provider_name}' is misconfigured: "
            f"{candidate.config_error}",
            status=502,
            code="provider_misconfigured",
        )
    return get_driver(candidate.driver_config, get_client())


async def _first_success(
    key: KeyInfo,
    candidates: list[Candidate],
    attempt: Callable[[Candidate], Awaitable[T]],
    *,
    endpoint: str,
    name: str,
    started: float,
    stream: bool = False,
    cost: Callable[[Candidate], int] | None = None,
) -> tuple[Candidate, T]:
    """Try the candidates in order until one answers; raise the last failure.

    Only failures that may pass (timeouts, 5xx, 429, unreachable) move on to the
    next candidate; every failed attempt is recorded. ``cost`` weighs a call
    that fans out into several upstream calls for the rate limits.
    """
    last: DriverError | None = None
    for candidate in candidates:
        await _admit(key, candidate, cost(candidate) if cost else 1)
        try:
            return candidate, await attempt(candidate)
        except TimeoutError:
            last = TransientDriverError(
                "The provider timed out.",
                status=504,
                code="upstream_timeout",
            )
        except DriverError as err:
            last = err
        record_call(
            key,
            candidate,
            endpoint,
            name,
            started,
            last.status,
            error_type=last.code or last.type,
            stream=stream,
        )
        if not last.transient:
            break
    assert last is not None
    raise last


def _total_timeout(candidate: Candidate) -> float:
    return candidate.driver_config.timeouts.total  # type: ignore[union-attr]


class ChatCompletionsView(GatewayView):
    http_method_names = ["post"]

    async def post(self, request: Any, key: KeyInfo) -> HttpResponse:
        started = time.monotonic()
        body = self.body(request)
        validate_chat(body)
        name = body["model"]
        candidates = await _resolve(key, name, "inference")
        if body.get("stream"):
            return await self._stream(body, key, name, candidates, started)

        async def attempt(candidate: Candidate) -> dict[str, Any]:
            driver = _driver(candidate)
            async with asyncio.timeout(_total_timeout(candidate)):
                return await driver.chat(body, candidate.model_id)  # type: ignore[no-any-return]

        candidate, answer = await _first_success(
            key, candidates, attempt, endpoint="chat", name=name, started=started
        )
        answer["model"] = name
        answer.setdefault("id", new_completion_id())
        answer.setdefault("object", "chat.completion")
        answer.setdefault("created", now())
        usage_data, estimated = estimate.usage_or_estimate(
            answer.get("usage"), body, estimate.answer_chars(answer)
        )
        record_call(
            key,
            candidate,
            "chat",
            name,
            started,
            200,
            usage_data=usage_data,
            estimated=estimated,
        )
        return _json(answer)

    async def _stream(
        self,
        body: dict[str, Any],
        key: KeyInfo,
        name: str,
        candidates: list[Candidate],
        started: float,
    ) -> HttpResponse:
        options = body.get("stream_options") or {}
        include_usage = bool(isinstance(options, dict) and options.get("include_usage"))

        async def attempt(
            candidate: Candidate,
        ) -> tuple[dict[str, Any], AsyncIterator[dict[str, Any]], float]:
            # The first chunk is awaited before answering, so a provider that
            # fails before sending anything gets a real HTTP error (and the next
            # candidate its turn) instead of a broken 200 stream.
            driver = _driver(candidate)
            deadline = asyncio.get_running_loop().time() + _total_timeout(candidate)
            chunks = driver.chat_stream(body, candidate.model_id)
            try:
                async with asyncio.timeout_at(deadline):
                    first = await anext(chunks)
            except StopAsyncIteration:
                raise TransientDriverError(
                    "The provider sent an empty stream.",
                    status=502,
                    code="upstream_error",
                ) from None
            return first, chunks, deadline

        candidate, (first, chunks, deadline) = await _first_success(
            key,
            candidates,
            attempt,
            endpoint="chat",
            name=name,
            started=started,
            stream=True,
        )
        events = relay(
            first, chunks, deadline, key, candidate, name, include_usage, started, body
        )
        response = StreamingHttpResponse(events, content_type="text/event-stream")
        response["Cache-Control"] = "no-cache"
        response["X-Accel-Buffering"] = "no"
        return response


class EmbeddingsView(GatewayView):
    http_method_names = ["post"]

    async def post(self, request: Any, key: KeyInfo) -> HttpResponse:
        started = time.monotonic()
        body = self.body(request)
        validate_embeddings(body)
        name = body["model"]
        candidates = await _resolve(key, name, "embedding")

        async def attempt(candidate: Candidate) -> dict[str, Any]:
            driver = _driver(candidate)
            async with asyncio.timeout(_total_timeout(candidate)):
                return await driver.embed(body, candidate.model_id)  # type: ignore[no-any-return]

        def calls(candidate: Candidate) -> int:
            # Each upstream call counts: 1,000 inputs on a one-text-per-call
            # vendor are 1,000 calls against the limits, not one.
            if candidate.driver_config is None:
                return 1
            return int(_driver(candidate).embed_calls(body, candidate.model_id))

        candidate, answer = await _first_success(
            key,
            candidates,
            attempt,
            endpoint="embeddings",
            name=name,
            started=started,
            cost=calls,
        )
        answer["model"] = name
        record_call(
            key,
            candidate,
            "embeddings",
            name,
            started,
            200,
            usage_data=answer.get("usage"),
        )
        return _json(answer)


class ModelsView(GatewayView):
    http_method_names = ["get"]

    async def get(
        self, request: Any, key: KeyInfo, model: str | None = None
    ) -> HttpResponse:
        listing = await state().listings.get_or_load(
            key.principal_key, lambda: run_db(list_models_for, key.principal)
        )
        entries = [
            e
            for e in listing
            if not key.allowed_models or set(e["_names"]) & key.allowed_models
        ]
        if model is not None:
            check_model(model)
            for entry in entries:
                if model in entry["_names"]:
                    return _json({k: v for k, v in entry.items() if k != "_names"})
            raise model_not_found(model)
        data = [{k: v for k, v in e.items() if k != "_names"} for e in entries]
        return _json({"object": "list", "data": data})


async def unknown_route(
    request: HttpRequest, *args: Any, **kwargs: Any
) -> HttpResponse:
    """Any other /v1 URL: OpenAI's 404 envelope, not Django's HTML page."""
    return error_response(
        GatewayError(
            f"Invalid URL ({request.method} {request.path[:200]}).",
            status=404,
            type="invalid_request_error",
            code="unknown_url",
        )
    )
