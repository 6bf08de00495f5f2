"""The one outbound HTTP client factory for talking to providers.

Drivers never build clients. ``get_client()`` returns a pooled ``httpx.AsyncClient``
per event loop (connection pools are per host inside it), with a transport chosen
by ``PROVIDERS_HTTP_TRANSPORT`` (``aiohttp``: httpx's API over aiohttp's faster
connection handling; ``httpx``: httpx's own). Every request passes a guard that
refuses non-http(s) schemes and, unless ``PROVIDERS_ALLOW_PRIVATE_IPS`` is on,
hosts that resolve to private, loopback or link-local addresses.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
import weakref
from typing import Any

import httpx
from django.conf import settings

_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = (
    weakref.WeakKeyDictionary()
)
_DNS_TTL = 30.0
_dns_cache: dict[str, tuple[float, list[str]]] = {}


class OutboundBlocked(httpx.TransportError):
    """The request's destination is not allowed."""


def _is_private(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    return not ip.is_global or ip.is_multicast


async def _resolve(host: str, port: int) -> list[str]:
    now = time.monotonic()
    cached = _dns_cache.get(host)
    if cached and cached[0] > now:
        return cached[1]
    try:
        ipaddress.ip_address(host.strip("[]"))
        addresses = [host.strip("[]")]
    except ValueError:
        infos = await asyncio.get_running_loop().getaddrinfo(
            host, port, type=socket.SOCK_STREAM
        )
        addresses = sorted({str(info[4][0]) for info in infos})
    _dns_cache[host] = (now + _DNS_TTL, addresses)
    return addresses


class GuardedTransport(httpx.AsyncBaseTransport):
    """Checks scheme and destination address before handing over to ``inner``."""

    def __init__(self, inner: httpx.AsyncBaseTransport, allow_private: bool) -> None:
        self.inner = inner
        self.allow_private = allow_private

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if url.scheme not in ("http", "https"):
            raise OutboundBlocked(
                f"Scheme {url.scheme!r} is not allowed.", request=request
            )
        if not self.allow_private:
            port = url.port or (443 if url.scheme == "https" else 80)
            for address in await _resolve(url.host, port):
                if _is_private(address):
                    raise OutboundBlocked(
                        f"{url.host} resolves to a private address; set "
                        "PROVIDERS_ALLOW_PRIVATE_IPS=true to allow it.",
                        request=request,
                    )
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def _inner_transport() -> httpx.AsyncBaseTransport:
    kind = getattr(settings, "PROVIDERS_HTTP_TRANSPORT", "aiohttp")
    if kind == "aiohttp":
        from httpx_aiohttp import AiohttpTransport

        return AiohttpTransport()
    return httpx.AsyncHTTPTransport(
        limits=httpx.Limits(max_connections=1000, max_keepalive_connections=200),
        retries=0,
    )


def build_client(**kwargs: Any) -> httpx.AsyncClient:
    """A new guarded client; prefer ``get_client()`` unless you own its lifetime."""
    transport = GuardedTransport(
        _inner_transport(), allow_private=settings.PROVIDERS_ALLOW_PRIVATE_IPS
    )
    return httpx.AsyncClient(
        transport=transport,
        timeout=httpx.Timeout(60.0, connect=5.0),
        follow_redirects=False,
        trust_env=False,
        **kwargs,
    )


def get_client() -> httpx.AsyncClient:
    """The pooled client of the running event loop (one per loop, reused)."""
    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None or client.is_closed:
        client = build_client()
        _clients[loop] = client
    return client


async def close_client() -> None:
    """Close the running loop's pooled client (at server shutdown)."""
    client = _clients.pop(asyncio.get_running_loop(), None)
    if client is not None:
        await client.aclose()
