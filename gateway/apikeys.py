"""Generate, hash and look up gateway API keys; the secret is returned once.

Keys are ``mg-`` followed by 40 URL-safe characters (240 bits of entropy), so a
plain SHA-256 is a safe, fast, lookup-able hash (as for GitHub tokens); only the
hash and a short display prefix are stored.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import TYPE_CHECKING, Any

from gateway.models import ApiKey

if TYPE_CHECKING:
    from accounts.models import Organization, User

KEY_PREFIX = "mg-"
DISPLAY_CHARS = 11  # "mg-" plus 8 characters


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def display_prefix(secret: str) -> str:
    return secret[:DISPLAY_CHARS]


def new_secret() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(30)


def validate_operator_secret(secret: str) -> str:
    """Why an operator-provided secret is unacceptable, or '' when it is fine."""
    if len(secret) < 24:
        return "An API key secret must be at least 24 characters long."
    if any(c.isspace() for c in secret) or not secret.isprintable():
        return "An API key secret may not contain spaces or control characters."
    return ""


def create_key(
    *,
    organization: Organization,
    name: str,
    user: User | None = None,
    secret: str | None = None,
    created_by: User | None = None,
    **fields: Any,
) -> tuple[ApiKey, str]:
    """Create a key; returns it with its secret, which is never available again."""
    secret = secret or new_secret()
    problem = validate_operator_secret(secret)
    if problem:
        raise ValueError(problem)
    key = ApiKey.objects.create(
        organization=organization,
        user=user,
        name=name,
        prefix=display_prefix(secret),
        secret_hash=hash_secret(secret),
        created_by=created_by,
        **fields,
    )
    return key, secret
