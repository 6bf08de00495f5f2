"""CORS for /v1: browsers may call the gateway from the origins an operator lists.

``GATEWAY_CORS_ALLOWED_ORIGINS`` lists them (``scheme://host[:port]``, or ``*``
for any origin); it is empty by default, and then no response carries a CORS
header. Callers authenticate with an API key in ``Authorization``, never with
cookies, so no response allows credentials.

A preflight (``OPTIONS``) needs no key and reads no body: browsers send
neither. Per the Fetch standard the CORS check is the browser's, so an origin
that is not listed is refused by omission: its preflight still answers 204 with
``Allow`` (a plain ``OPTIONS`` from a non-browser client is legitimate, RFC 9110
§9.3.7), without any ``Access-Control-Allow-*`` header, and the browser fails
the request. A 403 would tell a browser nothing more and would break method
discovery for other clients.

Actual responses to a listed origin carry ``Access-Control-Allow-Origin`` (the
origin itself) and expose the headers the SDKs read; while any origin is
listed, every response says ``Vary: Origin`` so that no cache serves one
origin's answer to another.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.http.response import HttpResponseBase
from django.utils.cache import patch_vary_headers

# Read by the OpenAI and Anthropic SDKs: the request id (each its own header),
# when to retry.
EXPOSED_HEADERS = (
    "x-request-id, request-id, retry-after, retry-after-ms, x-should-retry"
)
# Seconds a browser may reuse a preflight (Chromium caps it at 7,200).
PREFLIGHT_MAX_AGE = "600"
_HEADER_LIST = re.compile(
    r"[!#$%&'*+.^_`|~0-9A-Za-z-]+(?:[ \t]*,[ \t]*[!#$%&'*+.^_`|~0-9A-Za-z-]+)*"
)
_MAX_HEADER_LIST = 2000

_decided_for: list[Any] = [None]
_allowed: set[str] = set()


def allowed_origin(origin: str | None) -> str | None:
    """The origin to allow in ``Access-Control-Allow-Origin``, or None."""
    if not origin:
        return None
    current = settings.GATEWAY_CORS_ALLOWED_ORIGINS
    if _decided_for[0] is not current:
        # Settings are replaced, not mutated (tests override them): recompute.
        _allowed.clear()
        _allowed.update(o.lower().rstrip("/") for o in current)
        _decided_for[0] = current
    if "*" in _allowed or origin.lower() in _allowed:
        return origin
    return None


def add_headers(response: HttpResponseBase, origin: str | None) -> None:
    """CORS headers of an actual response (any status) to a request from ``origin``."""
    if not settings.GATEWAY_CORS_ALLOWED_ORIGINS:
        return
    patch_vary_headers(response, ("Origin",))
    allowed = allowed_origin(origin)
    if allowed is not None:
        response["Access-Control-Allow-Origin"] = allowed
        response["Access-Control-Expose-Headers"] = EXPOSED_HEADERS


def add_preflight_headers(
    response: HttpResponseBase, meta: Mapping[str, Any], methods: list[str]
) -> None:
    """What a preflight from an allowed origin may do on a route with ``methods``.

    The request headers the browser asks for are allowed as asked (when they
    are a well-formed list of names): every request still needs its key, and
    the SDKs add headers of their own from version to version.
    """
    if allowed_origin(meta.get("HTTP_ORIGIN")) is None:
        return
    response["Access-Control-Allow-Methods"] = ", ".join(methods)
    requested = str(meta.get("HTTP_ACCESS_CONTROL_REQUEST_HEADERS", "")).strip()
    if len(requested) <= _MAX_HEADER_LIST and _HEADER_LIST.fullmatch(requested):
        response["Access-Control-Allow-Headers"] = requested.lower()
    response["Access-Control-Max-Age"] = PREFLIGHT_MAX_AGE
    patch_vary_headers(
        response, ("Access-Control-Request-Method", "Access-Control-Request-Headers")
    )
