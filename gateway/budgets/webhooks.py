"""Alert webhooks: the secret, the signature, and one guarded delivery.

A delivery is a JSON POST signed like Stripe's webhooks: the header
``X-Modelgate-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>`` where the HMAC
is keyed with the organization's webhook secret over ``"<t>.<raw body>"``. The
receiver recomputes it over the bytes it received and rejects an old ``t``
(replays). The secret is stored encrypted (``AlertSettings.webhook_secret``)
and leaves the server once: on the page or API answer that creates it.

The connection goes through the providers' outbound guard
(``providers.http``): a URL resolving to a private or metadata address is
refused unless ``PROVIDERS_ALLOW_PRIVATE_IPS`` is on, at save and again at
delivery (a name may resolve elsewhere later).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
import time
from typing import TYPE_CHECKING, Any

import httpx
from django.conf import settings

from providers.http import OutboundBlocked, build_client, provider_policy

if TYPE_CHECKING:
    from gateway.budgets.models import AlertSettings

SIGNATURE_HEADER = "X-Modelgate-Signature"
SECRET_PREFIX = "whsec_"


class WebhookError(Exception):
    """A delivery failed; ``transient`` ones are retried (connection, 5xx, 429)."""

    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.message = message
        self.transient = transient


class TransientWebhookError(WebhookError):
    def __init__(self, message: str) -> None:
        super().__init__(message, transient=True)


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def signature(secret: str, body: bytes, timestamp: int) -> str:
    """The header value for ``body`` sent at ``timestamp`` (unix seconds)."""
    signed = f"{timestamp}.".encode() + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify(secret: str, body: bytes, header: str, tolerance: int = 300) -> bool:
    """What a receiver does (the README's recipe; the tests use it too)."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        timestamp = int(parts.get("t", ""))
    except ValueError:
        return False
    if abs(time.time() - timestamp) > tolerance:
        return False
    expected = signature(secret, body, timestamp).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


def encode(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()


async def _post(url: str, body: bytes, headers: dict[str, str]) -> int:
    """The receiver's status; its body is never read, and the whole exchange
    (connect, send, headers) ends within ``BUDGET_WEBHOOK_TIMEOUT``: a slow or
    chatty receiver cannot hold a worker or fill its memory."""
    timeout = float(settings.BUDGET_WEBHOOK_TIMEOUT)
    try:
        async with (
            asyncio.timeout(timeout),
            build_client(provider_policy()) as client,
            client.stream(
                "POST", url, content=body, headers=headers, timeout=timeout
            ) as response,
        ):
            return response.status_code
    except TimeoutError:
        raise httpx.TimeoutException("the webhook did not answer in time") from None


def deliver(url: str, secret: str, payload: dict[str, Any]) -> int:
    """POST ``payload`` signed with ``secret``; the status code when 2xx.

    Raises ``WebhookError``: transient for a connection failure, a timeout,
    429 or 5xx; permanent for a refused destination or another status.
    Messages never hold the secret or the body.
    """
    body = encode(payload)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Modelgate-Webhooks/1",
        "X-Modelgate-Event": str(payload.get("type", "")),
        SIGNATURE_HEADER: signature(secret, body, int(time.time())),
    }
    try:
        status = asyncio.run(_post(url, body, headers))
    except OutboundBlocked as exc:
        raise WebhookError(f"blocked: {exc}", transient=False) from None
    except httpx.TimeoutException:
        raise TransientWebhookError("timed out") from None
    except httpx.TransportError as exc:
        raise TransientWebhookError(
            f"connection failed: {type(exc).__name__}"
        ) from None
    if 200 <= status < 300:
        return status
    if status >= 500 or status in (408, 429):
        raise TransientWebhookError(f"HTTP {status}")
    raise WebhookError(f"HTTP {status}", transient=False)


def ensure_secret(config: AlertSettings) -> str | None:
    """Seal a new secret into ``config`` when it has a URL and no secret yet.

    Returns the new secret (to show once), or None. The caller saves.
    """
    if not config.webhook_url or config.is_configured("webhook_secret"):
        return None
    secret = new_secret()
    config.seal("webhook_secret", secret)
    return secret


def rotate_secret(config: AlertSettings) -> str:
    """Replace the secret (saved); the new one, to show once."""
    secret = new_secret()
    config.seal("webhook_secret", secret)
    config.save(update_fields=["webhook_secret"])
    return secret
