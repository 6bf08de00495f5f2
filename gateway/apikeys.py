"""Gateway API key secrets: generate, hash and check them (pure functions).

Keys are ``mg-`` followed by 40 URL-safe characters (240 bits of entropy), so a
plain SHA-256 is a safe, fast, lookup-able hash (as for GitHub tokens); only the
hash and a short display prefix are stored. Keys are issued and revoked by the
model (``ApiKey.issue``, ``ApiKey.revoke``), which uses these.
"""

from __future__ import annotations

import hashlib
import secrets

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
