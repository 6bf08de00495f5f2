"""OAuth2 client-credentials tokens for providers that use them, cached until expiry.

Error messages may quote the token endpoint's answer: the driver boundary
(``providers/drivers/scrub.py``) removes the client secret and the tokens from them.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from typing import TYPE_CHECKING

import httpx

from providers.drivers.base import (
    DriverError,
    error_from_exception,
    error_from_status,
    error_message_from_body,
)

if TYPE_CHECKING:
    from providers.drivers.base import DriverConfig

# (token_url, client_id, scope, secret fingerprint) -> (expires_at, token)
_tokens: dict[tuple[str, str, str, int], tuple[float, str]] = {}
# Locks belong to an event loop: one table per loop.
_locks: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[tuple[str, str, str, int], asyncio.Lock]
] = weakref.WeakKeyDictionary()
# Refresh this long before the token's stated expiry.
_SKEW = 30.0


async def get_token(cfg: DriverConfig, client: httpx.AsyncClient) -> str:
    """A valid access token for ``cfg``; fetched once and shared until it expires."""
    key = _cache_key(cfg)
    token_url, client_id, scope, _ = key
    secret = str(cfg.credentials.get("client_secret", ""))
    cached = _tokens.get(key)
    if cached and cached[0] > time.monotonic():
        return cached[1]
    loop_locks = _locks.setdefault(asyncio.get_running_loop(), {})
    lock = loop_locks.setdefault(key, asyncio.Lock())
    async with lock:
        cached = _tokens.get(key)
        if cached and cached[0] > time.monotonic():
            return cached[1]
        form = {
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": secret,
        }
        if scope:
            form["scope"] = scope
        try:
            response = await client.post(
                token_url, data=form, timeout=cfg.timeouts.httpx()
            )
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
                status=502,
                code="upstream_auth_error",
                should_retry=False,
            )
        try:
            data = response.json()
            token = str(data["access_token"])
            lifetime = float(data.get("expires_in", 3600))
        except (ValueError, KeyError, TypeError):
            raise DriverError(
                "OAuth2 token endpoint answered without an access_token.",
                status=502,
                code="upstream_auth_error",
            ) from None
        _tokens[key] = (time.monotonic() + max(0.0, lifetime - _SKEW), token)
        return token


def _cache_key(cfg: DriverConfig) -> tuple[str, str, str, int]:
    return (
        str(cfg.config.get("token_url", "")),
        str(cfg.config.get("client_id", "")),
        str(cfg.config.get("scope", "") or ""),
        hash(str(cfg.credentials.get("client_secret", ""))),
    )


def cached_tokens(cfg: DriverConfig) -> list[str]:
    """The access tokens obtained for ``cfg`` (so the driver boundary scrubs them)."""
    if cfg.auth_method != "oauth2":
        return []
    cached = _tokens.get(_cache_key(cfg))
    return [cached[1]] if cached else []
