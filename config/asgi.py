"""ASGI entry point: the gateway under /v1/ without middleware, the rest as usual.

Django applies its middleware stack to every request. The gateway authenticates
with API keys, needs no session, CSRF, messages or clickjacking protection, and
its hot path cannot afford the stack (it halved a bare proxy view's throughput),
so /v1/ is served by a second Django handler that loads no middleware. That
handler gives the call its request id (``gateway.request_ids``: on every
answer, in every log line meanwhile), checks the Host, authenticates the key
(``x-api-key`` or Bearer) before reading the body (refusals in Anthropic's
envelope on the Anthropic routes or when ``anthropic-version`` is sent) and
reads at most the route's body limit (gateway/intake.py); an ``OPTIONS`` (the
CORS preflight, which browsers send without a key or a body) skips both and
goes straight to its view. This app also answers the ASGI lifespan protocol:
at startup it imports the usage journals of dead gateway processes and starts
the usage writer process (``gateway.usage_writer``), at shutdown it writes
this process's journaled usage and stops the writer.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import os
from typing import Any

import django
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler
from django.core.handlers.exception import convert_exception_to_response
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.urls.resolvers import RoutePattern

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup(set_prefix=False)

from gateway import cors, ratelimit_headers, request_ids  # noqa: E402
from gateway.anthropic.errors import uses_envelope  # noqa: E402
from gateway.errors import DriverError, bad_request, internal_error  # noqa: E402
from gateway.errors import error_response as envelope_response  # noqa: E402
from gateway.intake import (  # noqa: E402
    GATEWAY_PREFIX,
    authenticate_scope,
    body_limit,
    check_declared_length,
    header,
    read_body,
)

logger = logging.getLogger(__name__)
INTAKE_FAILED = internal_error()
UNREADABLE_REQUEST = bad_request(
    "The request could not be read (its query string is not UTF-8)."
)

from gateway import urls as gateway_urls  # noqa: E402
from gateway.hosts import host_refusal  # noqa: E402  (needs django.setup())


async def send_json_error(send: Any, status: int, body: bytes) -> None:
    """Answer a whole JSON error without building a request (nothing was read)."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


# The gateway's routes that match one path each (gateway/urls.py, by URL name):
# its path() routes without converters; not the catch-all, nor routes with ids.
FIXED_ROUTES = frozenset(
    pattern.name
    for pattern in gateway_urls.urlpatterns
    if isinstance(pattern.pattern, RoutePattern)
    and not pattern.pattern.converters
    and pattern.name
)
_fixed_routes: dict[str, Any] = {}


def remembered_routes() -> dict[str, str]:
    """The paths whose resolution is remembered, and their URL names."""
    return {path: match.url_name for path, match in _fixed_routes.items()}


@receiver(setting_changed)
def _forget_routes(setting: str, **kwargs: Any) -> None:
    if setting == "ROOT_URLCONF":
        _fixed_routes.clear()


class GatewayASGIHandler(ASGIHandler):
    """Django's ASGI handler, without middleware and without per-request thread hops.

    Django's handler opens a ``ThreadSensitiveContext`` per request (a fresh
    executor thread) and runs the ``request_started``/``request_finished``
    receivers through ``sync_to_async``: measured at a third of a bare proxy
    view's time. The gateway touches the database only through
    ``gateway.db.run_db``, which closes connections itself in the thread that
    owns them, so those hops have nothing left to do here. The rest of
    ``handle`` is Django's: disconnects cancel the view, responses are closed.
    Nothing here calls ``get_host()``, so ``ALLOWED_HOSTS`` is checked first,
    before the body is read (``gateway.hosts``).
    """

    def load_middleware(self, is_async: bool = False) -> None:
        self._view_middleware: list[Any] = []
        self._template_response_middleware: list[Any] = []
        self._exception_middleware: list[Any] = []
        self._middleware_chain = convert_exception_to_response(
            self._get_response_async  # type: ignore[attr-defined]  # Django's, unstubbed
        )

    def resolve_request(self, request: Any) -> Any:
        """Django's resolution, remembered for the gateway's fixed routes.

        Resolving walks the site's URL patterns before reaching /v1/ (5 % of
        a streamed call's samples). A route without arguments resolves the
        same every time; the catch-all and routes with arguments (model and
        response ids: unbounded) are resolved each time.
        """
        path = request.path_info
        match = _fixed_routes.get(path)
        if match is None:
            match = super().resolve_request(request)
            if not (match.args or match.kwargs) and match.url_name in FIXED_ROUTES:
                _fixed_routes[path] = match
        request.resolver_match = match
        return match

    async def _refuse(self, err: DriverError, scope: dict[str, Any], send: Any) -> None:
        anthropic = uses_envelope(scope["path"], header(scope, b"anthropic-version"))
        response = envelope_response(err, anthropic=anthropic)
        # A browser's page may read why it was refused (a 401, a 413).
        cors.add_headers(response, header(scope, b"origin"))
        await self.send_response(response, send)
        _close(response)

    async def _preflight(self, scope: dict[str, Any], send: Any) -> None:
        """An ``OPTIONS``: no key, no body, no upstream; answered at once."""
        body_file = io.BytesIO()
        request, _ = self.create_request(scope, body_file)
        if request is None:
            await self._refuse(UNREADABLE_REQUEST, scope, send)
            return
        request.META["CONTENT_LENGTH"] = "0"
        response = await self.run_get_response(request)
        await self.send_response(response, send)
        _close(response)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        await self.handle(scope, receive, send)

    async def handle(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        # The request id first: every answer carries it, refusals included, and
        # every log line written while this call runs (gateway.request_ids).
        sent, anthropic_version = _request_headers(scope)
        request_id = request_ids.choose(sent)
        token = request_ids.current.set(request_id)
        try:
            stamped = _stamping(
                send, request_id, uses_envelope(scope["path"], anthropic_version)
            )
            await self._serve(scope, receive, stamped)
        finally:
            request_ids.current.reset(token)

    async def _serve(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        # The Host first (ALLOWED_HOSTS; this handler has no middleware), then the
        # key from the headers alone: an unauthenticated caller is answered before
        # a byte of its body is read; then the body, bounded.
        refusal = host_refusal(scope)
        if refusal is not None:
            await send_json_error(send, 400, refusal)
            return
        if scope["method"] == "OPTIONS":
            await self._preflight(scope, send)
            return
        try:
            key = await authenticate_scope(scope)
            limit = body_limit(scope["path"])
            check_declared_length(scope, limit)
            body = await read_body(receive, limit)
        except RequestAborted:
            return
        except DriverError as err:
            await self._refuse(err, scope, send)
            return
        except Exception:
            # A bug of ours or the database down: the envelope, never a bare 500.
            logger.exception("gateway intake failed on %s", scope.get("path"))
            await self._refuse(INTAKE_FAILED, scope, send)
            return
        body_file = io.BytesIO(body)
        request, _ = self.create_request(scope, body_file)
        if request is None:
            # Django's answer would be an empty text/html 400.
            body_file.close()
            await self._refuse(UNREADABLE_REQUEST, scope, send)
            return
        # Django read a body only as long as CONTENT_LENGTH says, and a
        # chunked request has none: state the length actually read.
        request.META["CONTENT_LENGTH"] = str(len(body))
        # The view acts for this key; it does not authenticate again.
        request.gateway_key = key  # type: ignore[attr-defined]  # read by gateway.views

        # The view runs in this task; a watcher cancels it if the client goes
        # away meanwhile (and with it the upstream call). Django runs the view
        # in a task of its own beside the watcher and waits for either: one
        # task and one wait per call more, for the same outcome.
        current = asyncio.current_task()
        assert current is not None
        gone = False

        async def watch() -> None:
            nonlocal gone
            try:
                await self.listen_for_disconnect(receive)
            except RequestAborted:
                gone = True
                current.cancel()

        watcher = asyncio.create_task(watch())
        response = None
        try:
            response = await self.run_get_response(request)
            await self.send_response(response, send)
        except asyncio.CancelledError:
            if not gone:
                raise  # the server's own cancellation (shutdown)
            current.uncancel()
        except RequestAborted:
            pass  # as Django: the client went away
        finally:
            watcher.cancel()
            if response is not None:
                _close(response)
            body_file.close()


def _close(response: Any) -> None:
    """``response.close()`` without the ``request_finished`` signal.

    Its receivers close this thread's database connections (the gateway has
    none on the event loop's thread: its queries run in ``gateway.db``'s,
    which closes its own), close caches and reset the URLconf (never set
    here): 3 % of a call's samples for nothing.
    """
    for closer in response._resource_closers:
        with contextlib.suppress(Exception):
            closer()
    response._resource_closers.clear()
    response.closed = True


def _request_headers(scope: dict[str, Any]) -> tuple[bytes | None, str | None]:
    """The client's ``x-request-id`` (None unless sent once), ``anthropic-version``."""
    sent: list[bytes] = []
    version = None
    for name, value in scope.get("headers") or ():
        if name == b"x-request-id":
            sent.append(bytes(value))
        elif name == b"anthropic-version":
            version = bytes(value).decode("latin-1")
    return (sent[0] if len(sent) == 1 else None), version


def _stamping(send: Any, request_id: str, anthropic: bool) -> Any:
    """``send``, adding the request id's headers to the response's start.

    ``x-request-id`` always (the openai SDK's ``_request_id``); ``request-id``
    too in Anthropic's dialect (the anthropic SDK's); and the ``x-ratelimit-*``
    headers of the call's admission, when it had caps.
    """
    value = request_id.encode("ascii")
    extra = [(b"x-request-id", value)]
    if anthropic:
        extra.append((b"request-id", value))
    # Admission fills it (gateway.ratelimit_headers): the x-ratelimit-* headers.
    slot = ratelimit_headers.opened()

    async def send_stamped(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            message = {
                **message,
                "headers": [
                    *message.get("headers", ()),
                    *extra,
                    *ratelimit_headers.headers(slot),
                ],
            }
        await send(message)

    return send_stamped


site_app = ASGIHandler()
gateway_app = GatewayASGIHandler()


async def _lifespan(receive: Any, send: Any) -> None:
    from asgiref.sync import sync_to_async
    from django.conf import settings

    from gateway import heap, limits, usage
    from gateway.usage_writer import Supervisor
    from providers.http import close_client

    writer: Supervisor | None = None
    keeping: asyncio.Task[None] | None = None
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            if settings.USAGE_WRITER == "process":
                # Usage records are written by a process of their own (when
                # it cannot start, by this process's thread, as before).
                try:
                    writer = Supervisor()
                    writer.start()
                    keeping = asyncio.create_task(writer.keep())
                except OSError:
                    logger.exception("usage writer not started; writing in-process")
                    writer = None
            # Usage journaled by gateway processes that died (SIGKILL, OOM)
            # reaches the database before this one serves.
            try:
                await sync_to_async(usage.recover_journals)()
            except Exception:
                logger.exception("usage journal recovery failed; the task retries")
            # Budget counters in Redis corrected from the usage records (a
            # Redis that restarted from an old snapshot, say), beside serving:
            # one query per budget must not hold up start-up, nor the shared
            # sync thread the hot path's cache misses use. Beat repeats it.
            reconciling = asyncio.create_task(_reconcile_at_start())
            # Start-up's objects out of the collector's way (gateway.heap).
            heap.settle()
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            with contextlib.suppress(Exception):
                await reconciling
            # Settlements in flight reach Redis before the process ends.
            await limits.drain()
            if keeping is not None:
                keeping.cancel()
            await sync_to_async(usage.flush)()
            if writer is not None:
                await asyncio.to_thread(writer.stop)
            await close_client()
            await send({"type": "lifespan.shutdown.complete"})
            return


def _reconcile_closing() -> None:
    """The reconcile, in a thread of its own that leaves no connection open."""
    from django.db import connections

    from gateway.budgets import reconcile

    try:
        reconcile.reconcile()
    finally:
        connections.close_all()


async def _reconcile_at_start() -> None:
    from asgiref.sync import sync_to_async

    try:
        await sync_to_async(_reconcile_closing, thread_sensitive=False)()
    except Exception as exc:  # Redis or the database not there yet
        logger.warning(
            "budget counters not reconciled at start-up (%s); beat retries",
            type(exc).__name__,
        )


async def application(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "http" and (
        scope["path"].startswith(GATEWAY_PREFIX) or scope["path"] == "/v1"
    ):
        await gateway_app(scope, receive, send)
    elif scope["type"] == "lifespan":
        await _lifespan(receive, send)
    else:
        await site_app(scope, receive, send)
