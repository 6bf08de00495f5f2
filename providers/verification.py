"""Checks the provider form runs before saving: where it points, and the vendor.

``refused_destinations`` applies the outbound guard (``providers.http``'s
provider policy, decided by ``netguard``) to every place the credentials would
go, so an endpoint the workers may not reach is refused at save, naming the
setting that allows it, even when the vendor check is skipped.
``failure_fields`` says which form fields a failed vendor check concerns, so
the reason is shown next to them.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings

from providers import catalog
from providers.catalog import AuthMethod
from providers.http import OutboundBlocked, OutboundUnresolvable, provider_policy
from providers.http import resolve as resolve_host
from providers.netguard import normalize_host, parse_ip

# Destination (``catalog.destinations``) → the form field that sets it.
DESTINATION_FIELDS = {
    "endpoint": "endpoint",
    "token_url": "token_url",
    "control_endpoint": "extra_config",
    "agent_endpoint": "extra_config",
}

# Auth method → the form fields holding what the vendor refused.
KEY_FIELDS: dict[str, tuple[str, ...]] = {
    AuthMethod.BEARER: ("api_key",),
    AuthMethod.X_API_KEY: ("api_key",),
    AuthMethod.API_KEY: ("api_key",),
    AuthMethod.CUSTOM_HEADERS: ("custom_headers",),
    AuthMethod.AWS_SIGV4: ("aws_access_key_id", "aws_secret_access_key"),
    AuthMethod.OAUTH2: ("client_id", "client_secret"),
}


def refusal(url: str) -> str | None:
    """Why the guard refuses ``url``'s host, or None (names resolve only when
    private addresses are refused: otherwise the vendor check decides).

    Also the check of budget alert webhook URLs (``gateway.budgets.alert_forms``).
    """
    try:
        parts = urlsplit(url)
        host, port = parts.hostname or "", parts.port
    except ValueError:
        return None  # the URL's own validation reports it
    if not host:
        return None
    policy = provider_policy()
    canonical = normalize_host(host)
    if parse_ip(canonical) is not None:
        return policy.refuse(host, canonical)
    if settings.PROVIDERS_ALLOW_PRIVATE_IPS:
        return None
    port = port or (443 if parts.scheme == "https" else 80)
    try:
        asyncio.run(resolve_host(host, port, policy))
    except OutboundBlocked as exc:
        return str(exc)
    except OutboundUnresolvable:
        return None  # unknown now; the vendor check (or health) will say
    return None


def refused_destinations(
    provider_type: str, endpoint: str, config: dict[str, Any]
) -> dict[str, str]:
    """Form field → why the outbound guard refuses where that field points."""
    found: dict[str, str] = {}
    for name, url in catalog.destinations(provider_type, endpoint, config).items():
        reason = refusal(url) if url else None
        if reason:
            found.setdefault(DESTINATION_FIELDS[name], reason)
    return found


def failure_fields(
    code: str, message: str, provider_type: str, auth_method: str
) -> tuple[str, ...]:
    """The form fields a failed vendor check concerns (empty: the whole form).

    A region problem → region; refused credentials → the key fields; a token
    endpoint's trouble → its URL; anything else about reaching the vendor
    (404, bad path, DNS, connection, timeout, blocked) → the endpoint.
    """
    lowered = message.lower()
    # AWS refuses a signature scoped to the wrong region as an auth error.
    if "region" in lowered and "region" in catalog.form_fields_for(
        provider_type, auth_method
    ):
        return ("region",)
    if code == "upstream_auth_error":
        # No key sent at all: the auth method is what to change.
        return KEY_FIELDS.get(auth_method) or ("auth_method",)
    if lowered.startswith("oauth2 token endpoint"):
        return ("token_url",)
    if code == "provider_misconfigured" and "endpoint" not in lowered:
        return ()
    return ("endpoint",)
