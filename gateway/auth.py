"""Bearer key → the principal it acts for, resolved once and then cached."""

from __future__ import annotations

import time
from dataclasses import dataclass

from gateway.apikeys import hash_secret
from gateway.db import run_db
from gateway.errors import invalid_api_key
from gateway.models import ApiKey
from gateway.state import state
from models_catalog.visibility import Principal

_INVALID = "invalid"


@dataclass(frozen=True)
class KeyInfo:
    key_pk: int
    organization_id: int
    user_id: int | None
    principal: Principal
    allowed_models: frozenset[str]
    expires_at: float | None
    requests_per_minute: int | None

    @property
    def principal_key(self) -> tuple[int | None, int | None]:
        """The cache key of routes and listings: (user, organization)."""
        return self.principal.cache_key


def load_key(secret_hash: str) -> KeyInfo | None:
    """Read a usable key from the database (sync)."""
    key = (
        ApiKey.objects.select_related("user")
        .filter(secret_hash=secret_hash, revoked_at__isnull=True)
        .first()
    )
    if key is None or key.is_expired:
        return None
    principal: Principal | None
    if key.user_id is not None:
        if not key.user.is_active:
            return None
        # The key acts for its user inside the key's organization only; a key
        # whose user has left that organization is dead.
        principal = Principal.for_member(key.user_id, key.organization_id)
        if principal is None:
            return None
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
    )


async def authenticate(authorization: str | None) -> KeyInfo:
    """The key behind an ``Authorization: Bearer`` header, or a 401 GatewayError."""
    if not authorization:
        raise invalid_api_key(
            "You didn't provide an API key. Send it as 'Authorization: Bearer <key>'."
        )
    scheme, _, secret = authorization.partition(" ")
    secret = secret.strip()
    if scheme.lower() != "bearer" or not secret:
        raise invalid_api_key(
            "Malformed Authorization header; expected 'Bearer <key>'."
        )
    digest = hash_secret(secret)

    async def load() -> KeyInfo | str:
        return await run_db(load_key, digest) or _INVALID

    info = await state().keys.get_or_load(digest, load)
    if info is _INVALID:
        raise invalid_api_key()
    assert isinstance(info, KeyInfo)
    if info.expires_at is not None and info.expires_at <= time.time():
        raise invalid_api_key("This API key has expired.")
    return info
