"""The /v1 views: parse, authenticate, hand the call over, answer.

Plain async Django class-based views, not Django REST framework. The hot path
cannot afford DRF's thread hops (adrf runs ``initial()`` through
``sync_to_async``), and replacing DRF's ``dispatch`` to avoid them silently
dropped its contract (its method list was ignored: a wrong method answered a
500). Django's ``View`` keeps its whole contract here: ``http_method_names``
is the route's method list, a method outside it is a 405 with ``Allow``
(``http_method_not_allowed``), ``HEAD`` runs ``GET``, ``OPTIONS`` lists the
methods; every answer, errors included, is in OpenAI's JSON envelope, or in
Anthropic's on the Anthropic routes and for clients that send
``anthropic-version`` (``gateway.anthropic.errors``). The
management API uses DRF on its own; nothing here is shared with it.

``GatewayView.dispatch`` extends Django's: it takes the key the ASGI handler
authenticated before reading the body (``config.asgi``) or authenticates it
itself (another entry point), then lets ``View.dispatch`` route the method.
``OPTIONS`` needs no key: it is the CORS preflight, which browsers send without
credentials and without a body (``gateway.cors``). The call itself is the call
path's (``gateway.call``); a view builds the ``Call`` and answers with what
comes back.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Sequence
from typing import Any, cast

import orjson
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.views import View

from accounts.network import client_address
from gateway import call as call_path
from gateway import (
    completions_api,
    cors,
    errors,
    messages,
    rerank,
    response_store,
    responses_api,
)
from gateway.anthropic.errors import uses_envelope
from gateway.auth import KeyInfo, authenticate
from gateway.db import run_db
from gateway.errors import DriverError, bad_request, error_response
from gateway.fields import check_model
from gateway.listing import find, models_for, public
from gateway.state import state
from gateway.validation import validate_chat, validate_embeddings

logger = logging.getLogger(__name__)


def _json(data: Any, status: int = 200) -> HttpResponse:
    return HttpResponse(
        orjson.dumps(data), status=status, content_type="application/json"
    )


async def request_key(request: HttpRequest) -> KeyInfo:
    """The key the request acts for: the ASGI handler's, else from its headers."""
    key: KeyInfo | None = getattr(request, "gateway_key", None)
    if key is None:
        await state().refresh()
        key = await authenticate(
            request.META.get("HTTP_AUTHORIZATION"),
            client_address(request.META),
            request.META.get("HTTP_X_API_KEY"),
        )
    return key


def anthropic_dialect(request: HttpRequest) -> bool:
    """Whether the request is answered in Anthropic's shapes (its routes, its SDKs)."""
    return uses_envelope(request.path, request.META.get("HTTP_ANTHROPIC_VERSION"))


def _accepts_json(content_type: str) -> bool:
    # DRF's media-type match, which these views replace: wildcards match too.
    main, _, sub = content_type.split(";", 1)[0].strip().lower().partition("/")
    return main in ("application", "*") and sub in ("json", "*")


def json_body(request: HttpRequest) -> dict[str, Any]:
    """The request body as a JSON object, or a 400 in OpenAI's envelope.

    An empty body is an empty object (validation then names what is missing).
    The body is read as a stream: its size was bounded before it was read
    (``gateway.intake``), and Django's ``request.body`` would apply the form
    upload cap to image-carrying chat bodies.
    """
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length <= 0:
        return {}
    content_type = str(request.META.get("CONTENT_TYPE", ""))
    if not _accepts_json(content_type):
        raise bad_request(
            f'Invalid request body: Unsupported media type "{content_type}" in request.'
        )
    try:
        data = orjson.loads(request.read())
    except orjson.JSONDecodeError:
        raise bad_request(
            "We could not parse the JSON body of your request. "
            "(HINT: send valid JSON with Content-Type: application/json.)"
        ) from None
    if not isinstance(data, dict):
        raise bad_request("The request body must be a JSON object.")
    return data


def event_stream(events: AsyncIterator[bytes]) -> StreamingHttpResponse:
    """Server-sent events, relayed as they come (no proxy buffering)."""
    response = StreamingHttpResponse(events, content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response


class GatewayView(View):
    """A /v1 route: the key first, then Django's method routing, answers as JSON.

    Subclasses list their methods in ``http_method_names`` (``options``
    included) and implement them as coroutines taking the request; ``self.key``
    is the authenticated key by then.
    """

    http_method_names: Sequence[str] = ["options"]
    # dispatch is a coroutine whatever the handlers are (Django would infer a
    # sync view from a class without handlers and run it in a thread).
    view_is_async = True
    key: KeyInfo

    async def dispatch(  # type: ignore[override]  # a coroutine, as view_is_async says
        self, request: HttpRequest, *args: Any, **kwargs: Any
    ) -> HttpResponseBase:
        try:
            if request.method != "OPTIONS":
                self.key = await request_key(request)
            response: HttpResponseBase = await self.route(request, *args, **kwargs)
        except DriverError as err:
            response = error_response(err, anthropic=anthropic_dialect(request))
        except Exception:
            # A bug of ours: still answer in the envelope the SDKs understand.
            logger.exception("gateway error on %s", request.path)
            response = error_response(
                errors.internal_error(), anthropic=anthropic_dialect(request)
            )
        cors.add_headers(response, request.META.get("HTTP_ORIGIN"))
        return response

    async def route(
        self, request: HttpRequest, *args: Any, **kwargs: Any
    ) -> HttpResponseBase:
        """The method's handler (Django's routing, ``View.dispatch``)."""
        # In an async view, View.dispatch returns the handler's coroutine.
        handler = cast(
            "Awaitable[HttpResponseBase]", super().dispatch(request, *args, **kwargs)
        )
        return await handler

    def allowed_methods(self) -> list[str]:
        """The methods this route serves, for ``Allow`` (``HEAD`` with ``GET``)."""
        return [m.upper() for m in self.http_method_names if hasattr(self, m)]

    async def http_method_not_allowed(  # type: ignore[override]  # async view
        self, request: HttpRequest, *args: Any, **kwargs: Any
    ) -> HttpResponse:
        response = error_response(
            errors.method_not_allowed(str(request.method)),
            anthropic=anthropic_dialect(request),
        )
        response["Allow"] = ", ".join(self.allowed_methods())
        return response

    async def options(  # type: ignore[override]  # async view
        self, request: HttpRequest, *args: Any, **kwargs: Any
    ) -> HttpResponse:
        """The route's methods in ``Allow``; a CORS preflight's answer."""
        methods = self.allowed_methods()
        response = HttpResponse(status=204)
        del response["Content-Type"]
        response["Allow"] = ", ".join(methods)
        cors.add_preflight_headers(response, request.META, methods)
        return response


class ChatCompletionsView(GatewayView):
    http_method_names = ["post", "options"]

    async def post(self, request: HttpRequest) -> HttpResponseBase:
        started = time.monotonic()
        body = json_body(request)
        validate_chat(body)
        stream = bool(body.get("stream"))
        call = call_path.Call(self.key, "chat", body, started=started, stream=stream)
        if not stream:
            return _json(await call_path.chat(call))
        return event_stream(await call_path.chat_stream(call))


class MessagesView(GatewayView):
    """``POST /v1/messages``: Anthropic's Messages API, for any vendor."""

    http_method_names = ["post", "options"]

    async def post(self, request: HttpRequest) -> HttpResponseBase:
        started = time.monotonic()
        body = messages.MessagesRequest(
            json_body(request), request.META.get("HTTP_ANTHROPIC_BETA")
        )
        call = call_path.Call(
            self.key, "messages", body.body, started=started, stream=body.stream
        )
        if not body.stream:
            return _json(await messages.message(call, body))
        return event_stream(await messages.message_stream(call, body))


class CountTokensView(GatewayView):
    """``POST /v1/messages/count_tokens``: the vendor's count, or an estimate."""

    http_method_names = ["post", "options"]

    async def post(self, request: HttpRequest) -> HttpResponse:
        body = messages.MessagesRequest(
            json_body(request), request.META.get("HTTP_ANTHROPIC_BETA"), counting=True
        )
        call = call_path.Call(self.key, "count_tokens", body.body)
        return _json(await messages.count_tokens(call, body))


class ResponsesView(GatewayView):
    """``POST /v1/responses``: OpenAI's Responses API, for any vendor."""

    http_method_names = ["post", "options"]

    async def post(self, request: HttpRequest) -> HttpResponseBase:
        started = time.monotonic()
        body = responses_api.ResponsesRequest(json_body(request))
        call = call_path.Call(
            self.key, "responses", body.body, started=started, stream=body.stream
        )
        if not body.stream:
            return _json(await responses_api.create(call, body))
        return event_stream(await responses_api.create_stream(call, body))


class CompletionsView(GatewayView):
    """``POST /v1/completions``: OpenAI's legacy text completions, for any vendor."""

    http_method_names = ["post", "options"]

    async def post(self, request: HttpRequest) -> HttpResponseBase:
        started = time.monotonic()
        body = completions_api.CompletionsRequest(json_body(request))
        call = call_path.Call(
            self.key, "completions", body.body, started=started, stream=body.stream
        )
        if not body.stream:
            return _json(await completions_api.create(call, body))
        return event_stream(await completions_api.create_stream(call, body))


class EmbeddingsView(GatewayView):
    http_method_names = ["post", "options"]

    async def post(self, request: HttpRequest) -> HttpResponse:
        started = time.monotonic()
        body = json_body(request)
        validate_embeddings(body)
        call = call_path.Call(self.key, "embeddings", body, started=started)
        return _json(await call_path.embeddings(call))


class RerankView(GatewayView):
    """``POST /v1/rerank``: Cohere's / Jina's rerank shape (``gateway.rerank``)."""

    http_method_names = ["post", "options"]

    async def post(self, request: HttpRequest) -> HttpResponse:
        started = time.monotonic()
        body = json_body(request)
        parsed = rerank.parse(body)
        call = call_path.Call(self.key, "rerank", body, started=started)
        reranked = await call_path.rerank(call, parsed.canonical(body["query"]))
        return _json(rerank.answer(call.name, parsed, reranked))


class ModelsView(GatewayView):
    """``GET /v1/models`` and ``GET /v1/models/<name>`` (``HEAD`` alike)."""

    http_method_names = ["get", "head", "options"]

    async def get(self, request: HttpRequest, model: str | None = None) -> HttpResponse:
        entries = await models_for(self.key)
        # Anthropic's clients send anthropic-version: they get Anthropic's shape.
        anthropic = bool(request.META.get("HTTP_ANTHROPIC_VERSION"))
        if model is None:
            if anthropic:
                return _json(messages.model_page(entries, request.GET))
            return _json({"object": "list", "data": [public(e) for e in entries]})
        check_model(model)
        entry = find(entries, model)
        if entry is None:
            raise errors.model_not_found(model)
        if anthropic:
            return _json(messages.model_entry(entry))
        return _json(public(entry))


class UnknownRouteView(GatewayView):
    """Any other URL under /v1, whatever the method: a JSON 404 after the key.

    Without a key the answer is the 401 (the key is checked first); an
    ``OPTIONS`` needs none and gets the 404 at once.
    """

    http_method_names = View.http_method_names

    async def route(
        self, request: HttpRequest, *args: Any, **kwargs: Any
    ) -> HttpResponseBase:
        raise errors.unknown_url(str(request.method), request.path)


class ResponseView(GatewayView):
    """``GET`` and ``DELETE /v1/responses/<id>``: a stored Responses API answer.

    Only keys of the organization that stored it reach it; any other id, an
    expired one or garbage is the same 404.
    """

    http_method_names = ["get", "head", "delete", "options"]

    async def get(self, request: HttpRequest, response_id: str) -> HttpResponse:
        if request.GET.get("stream", "false").lower() not in ("false", "0"):
            # Replaying a stored answer as events is for background responses,
            # which the gateway does not run.
            raise bad_request(
                "Streaming a stored response is not supported; retrieve it "
                "without stream.",
                "stream",
            )
        stored = await run_db(response_store.get, self.key.organization_id, response_id)
        if stored is None:
            raise errors.response_not_found(response_id)
        return _json(stored.response)

    async def delete(self, request: HttpRequest, response_id: str) -> HttpResponse:
        organization_id = self.key.organization_id
        if not await run_db(response_store.delete, organization_id, response_id):
            raise errors.response_not_found(response_id)
        return _json({"id": response_id, "object": "response", "deleted": True})


class ResponseInputItemsView(GatewayView):
    """``GET /v1/responses/<id>/input_items``: the stored request's input, paged."""

    http_method_names = ["get", "head", "options"]

    async def get(self, request: HttpRequest, response_id: str) -> HttpResponse:
        raw_limit = request.GET.get("limit", str(response_store.PAGE_LIMIT_DEFAULT))
        try:
            limit = int(raw_limit)
        except ValueError:
            raise bad_request(
                f"Invalid 'limit': expected an integer, but got '{raw_limit[:50]}'.",
                "limit",
            ) from None
        page = await run_db(
            response_store.input_items_page,
            self.key.organization_id,
            response_id,
            request.GET.get("after"),
            limit,
            request.GET.get("order", "desc"),
        )
        return _json(page)
