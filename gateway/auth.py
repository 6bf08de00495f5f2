"""A bearer or x-api-key key → the principal it acts for, resolved once and then cached.

A key's entry is reloaded once per ``GATEWAY_CACHE_TTL`` (``gateway.state``), so
revocation, expiry and deactivation reach every process whatever path made them.
Unknown keys are remembered as unknown for the same time (bounded, apart from
the valid ones), and an address that keeps failing gets a 429 before any lookup
(``gateway.throttle``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.db.models import OuterRef, Subquery

from accounts.models import Membership
from gateway import throttle
from gateway.apikeys import hash_secret
from gateway.db import run_db
from gateway.errors import invalid_api_key, rate_limited
from gateway.models import ApiKey
from gateway.state import state
from models_catalog.visibility import Principal

_INVALID = "invalid"


@dataclass(frozen=True)
class KeyInfo:
    """Who a call acts for, and the key's own restrictions.

    ``key_pk`` is None for a call without an API key (the site's playground,
    ``portal.playground``): no key limit, no allow-list, no expiry apply.
    """

    key_pk: int | None
    organization_id: int
    user_id: int | None
    principal: Principal
    allowed_models: frozenset[str]
    expires_at: float | None
    requests_per_minute: int | None
    tokens_per_minute: int | None = None

    @property
    def principal_key(self) -> tuple[int | None, int | None]:
        """The cache key of routes and listings: (user, organization)."""
        return self.principal.cache_key


def load_key(secret_hash: str) -> KeyInfo | None:
    """Read a usable key from the database (sync).

    The key, its user and the user's role in the key's organization come in one
    indexed query; this runs once per key per cache TTL in each process, never
    per request.
    """
    role = Membership.objects.filter(
        user_id=OuterRef("user_id"), organization_id=OuterRef("organization_id")
    ).values("role")[:1]
    key = (
        ApiKey.objects.select_related("user")
        .annotate(member_role=Subquery(role))
        .filter(secret_hash=secret_hash, revoked_at__isnull=True)
        .first()
    )
    if key is None or key.is_expired:
        return None
    principal: Principal
    user = key.user  # select_related above: no query
    if user is not None:
        if not user.is_active or key.member_role is None:
            # A key whose user has left its organization is dead.
            return None
        # The key acts for its user inside the key's organization only.
        principal = Principal.for_role(user.pk, key.organization_id, key.member_role)
    else:
        principal = Principal.for_organization(key.organization_id)
    return KeyInfo(
        key_pk=key.pk,
        organization_id=key.organization_id,
        user_id=key.user_id,
        principal=principal,
        allowed_models=frozenset(str(m) for m in key.allowed_models or []),
        expires_at=key.expires_at.timestamp() if key.expires_at else None,
        requests_per_minute=key.requests_per_minute,
        tokens_per_minute=key.tokens_per_minute,
    )


def presented_secret(authorization: str | None, api_key: str | None) -> str:
    """The key a request presents: ``x-api-key`` (Anthropic's clients), else Bearer.

    ``x-api-key`` wins when both are sent: Anthropic's clients send the key
    there, and an ``Authorization`` beside it belongs to something else (a
    proxy in front). A 401 GatewayError when neither carries a key.
    """
    if api_key is not None and api_key.strip():
        return api_key.strip()
    if not authorization:
        raise invalid_api_key(
            "You didn't provide an API key. Send it as 'Authorization: Bearer <key>'"
            " or 'x-api-key: <key>'."
        )
    scheme, _, secret = authorization.partition(" ")
    secret = secret.strip()
    if scheme.lower() != "bearer" or not secret:
        raise invalid_api_key(
            "Malformed Authorization header; expected 'Bearer <key>'."
        )
    return secret


async def authenticate(
    authorization: str | None, address: str, api_key: str | None = None
) -> KeyInfo:
    """The key behind ``x-api-key`` or ``Authorization: Bearer``, or a 401/429.

    ``address`` is the client's (``accounts.network.client_address``): failed
    lookups are counted against it, and once it is over the limit only keys this
    process has seen valid are looked up; anything else gets a 429 at no cost.
    """
    secret = presented_secret(authorization, api_key)
    digest = hash_secret(secret)
    caches = state()
    info = caches.keys.get(digest)
    if not isinstance(info, KeyInfo):
        info = await _look_up(digest, address)
    assert isinstance(info, KeyInfo)
    if info.expires_at is not None and info.expires_at <= time.time():
        raise invalid_api_key("This API key has expired.")
    return info


async def _look_up(digest: str, address: str) -> KeyInfo:
    """A key not in the cache: from the database unless the caller is throttled."""
    caches = state()
    if caches.unknown_keys.get(digest) is None:
        if digest not in caches.known_keys:
            wait = await throttle.retry_after(address)
            if wait is not None:
                raise _too_many_failures(wait)

        async def load() -> KeyInfo | str:
            return await run_db(load_key, digest) or _INVALID

        info = await caches.keys.get_or_load(digest, load)
        if isinstance(info, KeyInfo):
            caches.remember_valid(digest)
            return info
        caches.keys.discard(digest)
        caches.unknown_keys.set(digest, _INVALID)
    wait = await throttle.record_failure(address)
    if wait is not None:
        raise _too_many_failures(wait)
    raise invalid_api_key()


def _too_many_failures(retry_after: float) -> Exception:
    return rate_limited(
        "Too many requests with invalid API keys from your address. "
        "Retry after the window resets.",
        retry_after,
    )
