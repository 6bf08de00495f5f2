"""Authentication of outbound calls: auth headers and the OAuth2 token cache.

``auth_headers(cfg, token)`` builds the headers for every auth method except
SigV4 (the Bedrock driver signs each request itself). ``get_token(cfg, client)``
returns an OAuth2 client-credentials access token, fetched once per (token URL,
client, scope, secret) and shared until shortly before it expires; the cache
takes an injectable clock (``TokenCache(clock=...)``) and is emptied with
``reset_tokens()``. Error messages may quote the token endpoint's answer: the
driver boundary (``scrub.py``) removes the client secret and the tokens.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING

import httpx

from providers.drivers.errors import (
    DriverError,
    error_from_exception,
    error_from_status,
    error_message_from_body,
)
from providers.drivers.registry import vendor_spec
from providers.drivers.vendor import AuthMethod

if TYPE_CHECKING:
    from providers.drivers.config import DriverConfig

# Refresh this long before the token's stated expiry.
SKEW = 30.0

Key = tuple[str, str, str, int]


def auth_headers(cfg: DriverConfig, bearer_token: str | None = None) -> dict[str, str]:
    """Headers that authenticate a request for every method except SigV4.

    ``bearer_token`` is the OAuth2 access token when the method is ``oauth2``.
    The ``api_key`` method's header name and prefix default to the vendor's
    declaration (``VendorSpec.api_key_header``).
    """
    creds = cfg.credentials
    method = cfg.auth_method
    headers: dict[str, str] = {}
    if method == AuthMethod.BEARER:
        headers["Authorization"] = f"Bearer {creds.get('api_key', '')}"
    elif method == AuthMethod.X_API_KEY:
        headers["x-api-key"] = str(creds.get("api_key", ""))
    elif method == AuthMethod.API_KEY:
        spec = vendor_spec(cfg.provider_type)
        default_name, default_prefix = spec.api_key_header if spec else ("", "")
        name = str(cfg.config.get("auth_header") or default_name)
        prefix = str(cfg.config.get("auth_prefix", default_prefix) or "")
        headers[name] = f"{prefix}{creds.get('api_key', '')}"
    elif method == AuthMethod.CUSTOM_HEADERS:
        headers.update(
            {str(k): str(v) for k, v in (creds.get("headers") or {}).items()}
        )
    elif method == AuthMethod.OAUTH2 and bearer_token:
        headers["Authorization"] = f"Bearer {bearer_token}"
    for name, value in (cfg.config.get("extra_headers") or {}).items():
        headers.setdefault(str(name), str(value))
    return headers


class TokenCache:
    """OAuth2 access tokens by key until ``clock()`` passes their refresh time."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._tokens: dict[Key, tuple[float, str]] = {}
        # Locks belong to an event loop: one table per loop.
        self._locks: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, dict[Key, asyncio.Lock]
        ] = weakref.WeakKeyDictionary()

    def get(self, key: Key) -> str | None:
        cached = self._tokens.get(key)
        if cached and cached[0] > self.clock():
            return cached[1]
        return None

    def put(self, key: Key, token: str, lifetime: float) -> None:
        self._tokens[key] = (self.clock() + max(0.0, lifetime - SKEW), token)

    def lock(self, key: Key) -> asyncio.Lock:
        loop_locks = self._locks.setdefault(asyncio.get_running_loop(), {})
        return loop_locks.setdefault(key, asyncio.Lock())

    def known(self, key: Key) -> list[str]:
        """Every token held for ``key``, expired or not (for the scrub)."""
        cached = self._tokens.get(key)
        return [cached[1]] if cached else []

    def clear(self) -> None:
        self._tokens.clear()


#: The process-wide cache the drivers use.
TOKENS = TokenCache()


def reset_tokens() -> None:
    """Forget every cached OAuth2 token (tests, credential rotation)."""
    TOKENS.clear()


def cache_key(cfg: DriverConfig) -> Key:
    return (
        str(cfg.config.get("token_url", "")),
        str(cfg.config.get("client_id", "")),
        str(cfg.config.get("scope", "") or ""),
        hash(str(cfg.credentials.get("client_secret", ""))),
    )


async def get_token(
    cfg: DriverConfig, client: httpx.AsyncClient, cache: TokenCache | None = None
) -> str:
    """A valid access token for ``cfg``; fetched once and shared until it expires."""
    cache = cache or TOKENS
    key = cache_key(cfg)
    token = cache.get(key)
    if token is not None:
        return token
    async with cache.lock(key):
        token = cache.get(key)
        if token is not None:
            return token
        token, lifetime = await _fetch(cfg, client, key)
        cache.put(key, token, lifetime)
        return token


async def _fetch(
    cfg: DriverConfig, client: httpx.AsyncClient, key: Key
) -> tuple[str, float]:
    token_url, client_id, scope, _ = key
    form = {
        "grant_type": "client_credentials",
        "client_id": client_id,
        "client_secret": str(cfg.credentials.get("client_secret", "")),
    }
    if scope:
        form["scope"] = scope
    try:
        response = await client.post(token_url, data=form, timeout=cfg.timeouts.httpx())
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        # Through the guarded client: a blocked or unresolvable token URL
        # is mapped like any other outbound failure.
        raise error_from_exception(exc, "OAuth2 token endpoint") from None
    if response.status_code == 429 or response.status_code >= 500:
        # The token service is busy or down: temporary, like any upstream.
        raise error_from_status(
            response.status_code,
            "OAuth2 token endpoint: " + error_message_from_body(response.content),
            response.headers,
        )
    if response.status_code >= 400:
        raise DriverError(
            "OAuth2 token endpoint refused the client credentials: "
            + error_message_from_body(response.content),
            code="upstream_auth_error",
        )
    try:
        data = response.json()
        return str(data["access_token"]), float(data.get("expires_in", 3600))
    except (ValueError, KeyError, TypeError):
        raise DriverError(
            "OAuth2 token endpoint answered without an access_token.",
            code="upstream_auth_error",
        ) from None


def cached_tokens(cfg: DriverConfig) -> list[str]:
    """The access tokens obtained for ``cfg`` (so the driver boundary scrubs them)."""
    if cfg.auth_method != AuthMethod.OAUTH2:
        return []
    return TOKENS.known(cache_key(cfg))
