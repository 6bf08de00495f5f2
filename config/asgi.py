"""ASGI entry point: the gateway under /v1/ without middleware, the rest as usual.

Django applies its middleware stack to every request. The gateway authenticates
with API keys, needs no session, CSRF, messages or clickjacking protection, and
its hot path cannot afford the stack (it halved a bare proxy view's throughput),
so /v1/ is served by a second Django handler that loads no middleware. This app
also answers the ASGI lifespan protocol, flushing buffered usage at shutdown.
"""

from __future__ import annotations

import os
from typing import Any

import django
from django.core.handlers.asgi import ASGIHandler
from django.core.handlers.exception import convert_exception_to_response

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup(set_prefix=False)

GATEWAY_PREFIX = "/v1/"


class GatewayASGIHandler(ASGIHandler):
    """Django's ASGI handler with an empty middleware chain."""

    def load_middleware(self, is_async: bool = False) -> None:
        self._view_middleware = []
        self._template_response_middleware = []
        self._exception_middleware = []
        self._middleware_chain = convert_exception_to_response(self._get_response_async)


site_app = ASGIHandler()
gateway_app = GatewayASGIHandler()


async def _lifespan(receive: Any, send: Any) -> None:
    from asgiref.sync import sync_to_async

    from gateway import usage
    from providers.http import close_client

    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await sync_to_async(usage.flush)()
            await close_client()
            await send({"type": "lifespan.shutdown.complete"})
            return


async def application(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "http" and scope["path"].startswith(GATEWAY_PREFIX):
        await gateway_app(scope, receive, send)
    elif scope["type"] == "lifespan":
        await _lifespan(receive, send)
    else:
        await site_app(scope, receive, send)
