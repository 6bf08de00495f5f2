"""The one credential scrub: every driver error passes it at the driver boundary.

``secret_values(cfg)`` lists every credential a provider's calls can carry: the
credential values (API key, custom header values, AWS keys and session token,
OAuth2 client secret), the OAuth2 access tokens obtained with them, and the
provider config values that are secrets (extra header values, keys named like
a secret). ``scrub(text, secrets)`` replaces each of them, in every common
encoding (as is, URL-encoded, base64, JSON-escaped, ``user:pass`` in base64),
with ``[redacted]``, plus the masked key echoes vendors produce
(``sk-pr***RET``). ``boundary.contain`` applies it to every error leaving a
driver, so vendors need no scrubbing of their own. Pure: no I/O, no ORM.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, quote_plus

from providers.drivers.auth import cached_tokens

if TYPE_CHECKING:
    from providers.drivers.config import DriverConfig

REDACTED = "[redacted]"
# Shorter values are not credentials anyone issues, and replacing them would
# mangle ordinary words in the message.
MIN_SECRET_LENGTH = 4
# Provider config keys whose values are secrets (``token_url`` is not: ``_url``).
_SECRET_KEY_RE = re.compile(r"(?i)(secret|password|passwd|token|api_?key|credential)")
# OpenAI's masked echo of a key ("Incorrect API key provided: sk-pr***RET.") and
# anything shaped like an OpenAI/Anthropic key: partial echoes are still leaks.
_MASKED_KEY_RE = re.compile(r"(?i)(api key provided:\s*)\S+?(?=\.?(?:\s|$))")
_KEY_LIKE_RE = re.compile(r"\bsk-[A-Za-z0-9*_\-]{4,}")
_AUTH_SCHEMES = ("bearer ", "basic ", "token ")


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _strings(item)
    elif value is not None and not isinstance(value, bool):
        yield str(value)


def secret_values(cfg: DriverConfig | None) -> frozenset[str]:
    """Every credential value ``cfg`` can send, including OAuth2 tokens obtained."""
    if cfg is None:
        return frozenset()
    values = set(_strings(cfg.credentials))
    config = cfg.config or {}
    values.update(_strings(config.get("extra_headers") or {}))
    for key, value in config.items():
        if _SECRET_KEY_RE.search(str(key)) and not str(key).endswith("_url"):
            values.update(_strings(value))
    client_id = str(config.get("client_id") or "")
    secret = str(cfg.credentials.get("client_secret") or "")
    if client_id and secret:
        # HTTP Basic client authentication, should a token endpoint echo it.
        values.add(f"{client_id}:{secret}")
    access_key = str(cfg.credentials.get("access_key_id") or "")
    secret_key = str(cfg.credentials.get("secret_access_key") or "")
    if access_key and secret_key:
        values.add(f"{access_key}:{secret_key}")
    values.update(cached_tokens(cfg))
    return frozenset(v for v in values if len(v.strip()) >= MIN_SECRET_LENGTH)


def _basic_parts(value: str) -> Iterator[str]:
    """The token after an auth scheme, and ``user:pass`` / ``pass`` inside Basic."""
    lowered = value.lower()
    for scheme in _AUTH_SCHEMES:
        if lowered.startswith(scheme):
            token = value[len(scheme) :].strip()
            yield token
            if scheme == "basic ":
                try:
                    decoded = base64.b64decode(token, validate=True).decode()
                except ValueError:
                    return
                yield decoded
                yield decoded.partition(":")[2]


def encodings(value: str) -> set[str]:
    """``value`` as it may appear in an echoed request or message."""
    forms = {value, value.strip()}
    forms.update(_basic_parts(value.strip()))
    for form in list(forms):
        raw = form.encode()
        forms.add(quote(form, safe=""))
        forms.add(quote_plus(form, safe=""))
        forms.add(quote(form, safe="").lower())
        forms.add(json.dumps(form)[1:-1])
        for encoded in (base64.b64encode(raw), base64.urlsafe_b64encode(raw)):
            text = encoded.decode()
            forms.add(text)
            forms.add(text.rstrip("="))
    return {f for f in forms if len(f) >= MIN_SECRET_LENGTH}


@lru_cache(maxsize=256)
def _pattern(secrets: frozenset[str]) -> re.Pattern[str] | None:
    forms: set[str] = set()
    for value in secrets:
        forms.update(encodings(value))
    if not forms:
        return None
    # Longest first, so a value is replaced whole before any part of it.
    ordered = sorted(forms, key=len, reverse=True)
    return re.compile("|".join(re.escape(f) for f in ordered))


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret (in every encoding) replaced by ``[redacted]``."""
    if not text:
        return text
    pattern = _pattern(frozenset(secrets))
    if pattern is not None:
        text = pattern.sub(REDACTED, text)
    text = _MASKED_KEY_RE.sub(r"\1" + REDACTED, text)
    return _KEY_LIKE_RE.sub(REDACTED, text)
