"""The one outbound HTTP client factory, and the guard every connection passes.

Drivers never build clients. ``get_client()`` returns a pooled ``httpx.AsyncClient``
per event loop (connection pools are per host inside it), with a transport chosen
by ``PROVIDERS_HTTP_TRANSPORT`` (``aiohttp``: httpx's API over aiohttp's faster
connection handling; ``httpx``: httpx's own).

The guard resolves a name once and connects to the address it checked
(``netguard`` decides): on aiohttp through a resolver that returns only approved
addresses (aiohttp connects to exactly those; TLS still verifies the host name),
on httpx's transport through a network backend that does the same before opening
the socket (httpcore passes the host name for SNI). IP literals, in any spelling,
are checked before the request leaves and sent to their canonical address. So
DNS rebinding between check and connect is impossible: there is no second lookup.
A refused destination raises ``OutboundBlocked``, a name that does not resolve
``OutboundUnresolvable``; both are httpx transport errors the drivers map.

``Policy`` says what a client may reach: providers follow
``PROVIDERS_ALLOW_PRIVATE_IPS``; caller-supplied image URLs (``image_policy()``)
never reach private addresses (``IMAGE_FETCH_ALLOW_LOOPBACK`` admits loopback for
tests only).
"""

from __future__ import annotations

import asyncio
import functools
import socket
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any

import aiohttp
import httpcore
import httpx
from django.conf import settings
from django.dispatch import receiver
from django.test.signals import setting_changed
from httpx_aiohttp.transport import (
    AiohttpResponseStream,
    AiohttpTransport,
    map_aiohttp_exceptions,
)
from multidict import CIMultiDict
from yarl import URL

from providers.netguard import (
    PRIVATE,
    check_address,
    classify,
    normalize_host,
    parse_ip,
)

_clients: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[tuple[bool, str], httpx.AsyncClient]
] = weakref.WeakKeyDictionary()
# Answers are kept this long (seconds), for at most this many names.
DNS_TTL = 30.0
DNS_CACHE_SIZE = 1024
_dns_cache: OrderedDict[tuple[str, int], tuple[float, tuple[str, ...]]] = OrderedDict()
_dns_lock = threading.Lock()


def reset_dns_cache() -> None:
    """Forget every cached DNS answer (tests; a resolver change)."""
    with _dns_lock:
        _dns_cache.clear()


def dns_cache_keys() -> list[tuple[str, int]]:
    """The ``(host, family)`` pairs cached now, oldest first."""
    with _dns_lock:
        return list(_dns_cache)


class OutboundBlocked(httpx.TransportError):
    """The request's destination is not allowed."""


class OutboundUnresolvable(httpx.ConnectError):
    """The destination's host name did not resolve."""


@dataclass(frozen=True)
class Policy:
    """What a client may connect to, and what to tell the admin when it may not."""

    allow_private: bool
    allow_loopback: bool = False
    hint: str = ""

    def refuse(self, host: str, address: str) -> str | None:
        """Why ``host`` (resolved to ``address``) may not be reached, or None."""
        reason = check_address(
            address, self.allow_private, allow_loopback=self.allow_loopback
        )
        if reason is None:
            return None
        if normalize_host(host) != normalize_host(address):
            reason = f"{host}: {reason}"
        # The hint names the setting only where the setting would help.
        hint = self.hint if classify(address).kind == PRIVATE else ""
        return f"Outbound connection refused: {reason}.{hint}"


_PROVIDER_POLICIES = {
    allow: Policy(
        allow_private=allow,
        hint=" Connecting to a private address needs PROVIDERS_ALLOW_PRIVATE_IPS=true.",
    )
    for allow in (False, True)
}


def provider_policy() -> Policy:
    """Provider endpoints: private addresses only with PROVIDERS_ALLOW_PRIVATE_IPS."""
    return _PROVIDER_POLICIES[bool(settings.PROVIDERS_ALLOW_PRIVATE_IPS)]


def image_policy() -> Policy:
    """Caller-supplied image URLs: never private (loopback only for tests)."""
    return Policy(
        allow_private=False,
        allow_loopback=bool(getattr(settings, "IMAGE_FETCH_ALLOW_LOOPBACK", False)),
    )


async def _system_lookup(host: str, port: int, family: int) -> list[str]:
    """getaddrinfo() off the event loop; addresses in the order the system gave."""
    loop = asyncio.get_running_loop()
    # socket.getaddrinfo is looked up at call time (tests replace it to rebind).
    lookup = functools.partial(
        socket.getaddrinfo, host, port, family, socket.SOCK_STREAM
    )
    infos = await loop.run_in_executor(None, lookup)
    found: list[str] = []
    for fam, _type, _proto, _name, sockaddr in infos:
        address = str(sockaddr[0])
        if fam == socket.AF_INET6 and len(sockaddr) > 3 and sockaddr[3]:
            address = f"{address.split('%')[0]}%{sockaddr[3]}"
        if address not in found:
            found.append(address)
    return found


async def resolve(
    host: str, port: int, policy: Policy, family: int = socket.AF_UNSPEC
) -> list[str]:
    """The approved addresses of ``host``, resolved once (cached ``DNS_TTL`` s).

    Every address is checked; the unapproved ones are dropped. Raises
    ``OutboundBlocked`` when none is left, ``OutboundUnresolvable`` when the
    name does not resolve.
    """
    literal = parse_ip(host)
    if literal is not None:
        addresses: tuple[str, ...] = (str(literal),)
    else:
        key = (host.lower(), family)
        now = time.monotonic()
        cached = _dns_cache.get(key)
        if cached is not None and cached[0] > now:
            addresses = cached[1]
        else:
            try:
                addresses = tuple(await _system_lookup(host, port, family))
            except (OSError, UnicodeError):
                raise OutboundUnresolvable(
                    f"The host name {host} could not be resolved."
                ) from None
            if not addresses:
                raise OutboundUnresolvable(
                    f"The host name {host} could not be resolved."
                )
            with _dns_lock:  # admin threads run their own loops beside the server's
                _dns_cache[key] = (now + DNS_TTL, addresses)
                _dns_cache.move_to_end(key)
                while len(_dns_cache) > DNS_CACHE_SIZE:
                    _dns_cache.popitem(last=False)
    approved = [a for a in addresses if policy.refuse(host, a) is None]
    if not approved:
        raise OutboundBlocked(policy.refuse(host, addresses[0]) or "")
    return approved


def _quick_literal(host: str) -> bool:
    """Whether ``host`` may be an IP literal (cheap; names are left to resolve)."""
    return ":" in host or all(c in "0123456789abcdefx." for c in host)


class GuardedTransport(httpx.AsyncBaseTransport):
    """Checks scheme and IP-literal destinations, then hands over to ``inner``.

    Names are checked where the connection is opened (``GuardedResolver``,
    ``GuardedBackend``). A literal in a non-canonical spelling (``127.1``,
    ``2130706433``) is sent to its canonical address, the one checked.
    Decisions about literals are remembered per transport (bounded), so the
    hot path pays a dictionary lookup.
    """

    def __init__(self, inner: httpx.AsyncBaseTransport, policy: Policy) -> None:
        self.inner = inner
        self.policy = policy
        # Over aiohttp: ``send`` goes to aiohttp directly (``DirectAiohttp``).
        self.direct: DirectAiohttp | None = None
        # host → (canonical address or None for a name, refusal or None)
        self._literals: dict[str, tuple[str | None, str | None]] = {}

    def decide(self, host: str) -> tuple[str | None, str | None]:
        decided = self._literals.get(host)
        if decided is None:
            canonical = normalize_host(host) if _quick_literal(host) else host
            if parse_ip(canonical) is None:
                decided = (None, None)
            else:
                decided = (canonical, self.policy.refuse(host, canonical))
            if len(self._literals) >= DNS_CACHE_SIZE:
                self._literals.clear()
            self._literals[host] = decided
        return decided

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if url.scheme not in ("http", "https"):
            raise OutboundBlocked(
                f"Scheme {url.scheme!r} is not allowed.", request=request
            )
        host = url.host
        canonical, refused = self.decide(host)
        if canonical is not None:
            if refused:
                raise OutboundBlocked(refused, request=request)
            if canonical != host:
                request.url = url.copy_with(host=canonical)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def _resolver_class() -> type:
    from aiohttp.abc import AbstractResolver, ResolveResult

    class GuardedResolver(AbstractResolver):
        """aiohttp resolver: one lookup, only approved addresses returned."""

        def __init__(self, policy: Policy) -> None:
            self.policy = policy

        async def resolve(
            self,
            host: str,
            port: int = 0,
            family: socket.AddressFamily = socket.AF_INET,
        ) -> list[ResolveResult]:
            addresses = await resolve(host, port, self.policy, family)
            return [
                {
                    "hostname": host,
                    "host": address,
                    "port": port,
                    "family": socket.AF_INET6 if ":" in address else socket.AF_INET,
                    "proto": 0,
                    "flags": socket.AI_NUMERICHOST | socket.AI_NUMERICSERV,
                }
                for address in addresses
            ]

        async def close(self) -> None:
            return None

    return GuardedResolver


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore network backend: resolve once, connect to an approved address.

    httpcore starts TLS with the request's host name (SNI, certificate check),
    whatever address the socket was opened to.
    """

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            async with asyncio.timeout(timeout):
                addresses = await resolve(host, port, self.policy)
        except TimeoutError:
            raise httpx.ConnectTimeout(f"Resolving {host} timed out.") from None
        last: Exception | None = None
        for address in addresses:
            try:
                return await self.inner.connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise OutboundBlocked("Unix sockets are not allowed.")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


def _inner_transport(policy: Policy) -> httpx.AsyncBaseTransport:
    kind = getattr(settings, "PROVIDERS_HTTP_TRANSPORT", "aiohttp")
    if kind == "aiohttp":
        ssl_context = httpx.create_ssl_context()
        resolver = _resolver_class()(policy)

        def session() -> aiohttp.ClientSession:
            # Our resolver caches (bounded, short-lived); aiohttp's own cache
            # would keep a second, unbounded copy.
            connector = aiohttp.TCPConnector(
                limit=100,
                keepalive_timeout=5.0,
                ssl=ssl_context,
                resolver=resolver,
                use_dns_cache=False,
            )
            # No cookie jar (see no_cookies): aiohttp's own would keep them too.
            return aiohttp.ClientSession(
                connector=connector, cookie_jar=aiohttp.DummyCookieJar()
            )

        return AiohttpTransport(client=session)
    transport = httpx.AsyncHTTPTransport(retries=0)
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=httpx.create_ssl_context(),
        max_connections=1000,
        max_keepalive_connections=200,
        keepalive_expiry=5.0,
        retries=0,
        network_backend=GuardedBackend(policy),
    )
    return transport


def no_cookies() -> CookieJar:
    """A cookie jar whose policy accepts no cookie and returns none.

    The pooled client serves every tenant of the process: a cookie one vendor
    answer sets (a load balancer's session, say) must not ride along on the
    next call to that host, another organization's included.
    """
    return CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))


def build_client(policy: Policy | None = None, **kwargs: Any) -> httpx.AsyncClient:
    """A new guarded client; prefer ``get_client()`` unless you own its lifetime."""
    policy = policy or provider_policy()
    transport = GuardedTransport(_inner_transport(policy), policy)
    client = httpx.AsyncClient(
        transport=transport,
        timeout=httpx.Timeout(60.0, connect=5.0),
        follow_redirects=False,
        trust_env=False,
        cookies=no_cookies(),
        **kwargs,
    )
    if isinstance(transport.inner, AiohttpTransport) and not kwargs:
        # No proxy or mount given: every URL goes to this transport.
        transport.direct = DirectAiohttp(transport.inner, client.headers)
    return client


class DirectAiohttp:
    """``send`` over aiohttp without httpx's request: the same request, guard
    and answer, with less of the client layer's time per call (plain chat
    1.12x, streamed 1.17x in one ``python -m bench.ab`` run).

    httpx's ``Request`` (its URL and headers parsed and normalized) and
    ``httpx_aiohttp``'s conversion of it into aiohttp's arguments cost more
    per call than aiohttp's own request. Here the URL is parsed once, by
    ``yarl`` (which aiohttp parses it with anyway), the guard's checks are the
    transport's (``GuardedTransport.decide``: scheme, IP literals sent to
    their canonical address; names are checked by the connector's resolver, as
    before), the client's default headers are sent as ``build_request`` sends
    them, and aiohttp's errors become httpx's as the transport maps them. The
    answer is an ``httpx.Response``, the drivers' contract: read whole, or
    streamed from aiohttp's (``stream``).
    """

    def __init__(self, inner: AiohttpTransport, defaults: httpx.Headers) -> None:
        self.inner = inner
        self.defaults = CIMultiDict(defaults.multi_items())
        self._timeouts: dict[tuple[Any, ...], aiohttp.ClientTimeout] = {}

    def _session(self) -> aiohttp.ClientSession:
        session = self.inner.client
        if not isinstance(session, aiohttp.ClientSession):
            session = self.inner.client = self.inner.get_client()
        return session

    def _timeout(self, timeout: httpx.Timeout) -> aiohttp.ClientTimeout:
        key = (timeout.connect, timeout.read, timeout.pool)
        found = self._timeouts.get(key)
        if found is None:
            if len(self._timeouts) >= 64:
                self._timeouts.clear()
            found = self._timeouts[key] = aiohttp.ClientTimeout(
                sock_connect=timeout.connect,
                sock_read=timeout.read,
                connect=timeout.pool,
            )
        return found

    async def send(
        self,
        guard: GuardedTransport,
        method: str,
        url: str,
        headers: dict[str, str],
        content: bytes,
        timeout: httpx.Timeout,
        stream: bool,
    ) -> httpx.Response:
        try:
            target = URL(url)
        except (TypeError, ValueError) as exc:
            raise httpx.InvalidURL(str(exc)) from None
        if target.scheme not in ("http", "https"):
            raise OutboundBlocked(f"Scheme {target.scheme!r} is not allowed.")
        if not target.host:
            raise httpx.InvalidURL("No host in the URL.")
        canonical, refused = guard.decide(target.host)
        if canonical is not None:
            if refused:
                raise OutboundBlocked(refused)
            if canonical != target.host:
                target = target.with_host(canonical)
        sent = self.defaults.copy()
        sent.update(headers)
        with map_aiohttp_exceptions():
            answer = await self._session().request(
                method,
                target,
                headers=sent,
                data=content or None,
                allow_redirects=False,
                auto_decompress=False,
                compress=False,
                timeout=self._timeout(timeout),
            )
            if not stream:
                try:
                    body = await answer.read()
                finally:
                    answer.release()
                return httpx.Response(
                    answer.status, headers=answer.raw_headers, content=body
                )
        return httpx.Response(
            answer.status,
            headers=answer.raw_headers,
            stream=AiohttpResponseStream(answer),
        )


async def send(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    headers: dict[str, str],
    content: bytes,
    timeout: httpx.Timeout,
    *,
    stream: bool = False,
) -> httpx.Response:
    """One request through ``client``'s transport (the guard included), without
    the client's per-request machinery.

    ``AsyncClient.send`` runs an auth flow, a redirect loop, cookie handling,
    event hooks and a timer around every request; a driver's request needs
    none of them (no auth object, redirects never followed, no cookies kept,
    no hooks), and they cost a quarter of the client's time per call. The
    client's default headers are sent as ``build_request`` would send them.
    Not ``stream``: the body is read and the connection released; ``stream``:
    the caller reads the body and must ``aclose()`` the response.
    """
    transport = client._transport
    if isinstance(transport, GuardedTransport) and transport.direct is not None:
        return await transport.direct.send(
            transport, method, url, headers, content, timeout, stream
        )
    sent = client.headers.copy()
    sent.update(headers)
    request = httpx.Request(
        method,
        url,
        headers=sent,
        content=content,
        extensions={"timeout": timeout.as_dict()},
    )
    transport = client._transport_for_url(request.url)
    response = await transport.handle_async_request(request)
    response.request = request
    if not stream:
        try:
            await response.aread()
        finally:
            await response.aclose()
    return response


# The settings the pooled clients depend on, read once (re-read when a test
# changes them): two settings lookups per request would cost more than the guard.
_client_key: tuple[bool, str] | None = None


@receiver(setting_changed)
def _forget_client_key(setting: str, **kwargs: Any) -> None:
    global _client_key
    if setting in ("PROVIDERS_ALLOW_PRIVATE_IPS", "PROVIDERS_HTTP_TRANSPORT"):
        _client_key = None


def get_client() -> httpx.AsyncClient:
    """The pooled client of the running event loop (one per loop and policy).

    Keyed by the private-address setting and the transport, so connections
    opened under one setting are never reused under another.
    """
    global _client_key
    loop = asyncio.get_running_loop()
    key = _client_key
    if key is None:
        key = _client_key = (
            bool(settings.PROVIDERS_ALLOW_PRIVATE_IPS),
            str(settings.PROVIDERS_HTTP_TRANSPORT),
        )
    per_loop = _clients.get(loop)
    if per_loop is None:
        per_loop = _clients[loop] = {}
    client = per_loop.get(key)
    if client is None or client.is_closed:
        client = per_loop[key] = build_client(provider_policy())
    return client


async def close_client() -> None:
    """Close the running loop's pooled clients (at server shutdown)."""
    for client in (_clients.pop(asyncio.get_running_loop(), None) or {}).values():
        await client.aclose()
