"""What happens to a /v1 request before its view runs: the key, then a bounded body.

The ASGI handler (config/asgi.py) authenticates from the headers alone, so an
unauthenticated caller gets its 401 without a byte of its body being read; only
then is the body read, up to the route's limit: a declared ``Content-Length``
over the limit is refused before reading, a chunked body is counted as it
arrives and refused (413) as soon as it passes the limit, never buffered beyond.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import RequestAborted

from accounts.network import client_address
from gateway.auth import KeyInfo, authenticate
from gateway.errors import bad_request, too_large
from gateway.state import state

GATEWAY_PREFIX = "/v1/"


def body_limit(path: str) -> int:
    """The most bytes a request body may have on this /v1 route."""
    route = path[len(GATEWAY_PREFIX) :].strip("/")
    if route in ("chat/completions", "messages", "messages/count_tokens", "responses"):
        return int(settings.GATEWAY_MAX_BODY_BYTES)
    if route in ("embeddings", "completions", "rerank", "v2/rerank"):  # texts only
        return int(settings.GATEWAY_MAX_EMBEDDINGS_BODY_BYTES)
    return int(settings.GATEWAY_MAX_OTHER_BODY_BYTES)


def header(scope: dict[str, Any], name: bytes) -> str | None:
    """A request header (``name`` lower-case) as latin-1 text, or None.

    Repeated lines are joined with ", " as Django's ``META`` joins them: a proxy
    that adds its own ``X-Forwarded-For`` line instead of appending to the
    client's must not leave the client's forged line the only one read.
    """
    values = [
        bytes(value).decode("latin-1")
        for key, value in scope.get("headers") or ()
        if key == name
    ]
    return ", ".join(values) if values else None


async def authenticate_scope(scope: dict[str, Any]) -> KeyInfo:
    """The key of the request's ``x-api-key`` or ``Authorization``, or a 401."""
    await state().refresh()
    client = scope.get("client") or ("", 0)
    meta = {
        "REMOTE_ADDR": client[0],
        "HTTP_X_FORWARDED_FOR": header(scope, b"x-forwarded-for") or "",
    }
    return await authenticate(
        header(scope, b"authorization"),
        client_address(meta),
        header(scope, b"x-api-key"),
    )


def check_declared_length(scope: dict[str, Any], limit: int) -> None:
    """Refuse a declared ``Content-Length`` over the limit before reading anything."""
    declared = header(scope, b"content-length")
    if declared is None:
        return
    if not declared.strip().isdigit():
        raise bad_request("Invalid Content-Length header.")
    if int(declared) > limit:
        raise too_large(limit)


async def read_body(receive: Any, limit: int) -> bytes:
    """The request body, at most ``limit`` bytes; a 413 GatewayError beyond it.

    Raises ``RequestAborted`` when the client disconnects while sending.
    """
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise RequestAborted()
        chunk = message.get("body") or b""
        if len(body) + len(chunk) > limit:
            raise too_large(limit)
        body += chunk
        if not message.get("more_body", False):
            return bytes(body)
