"""The client's address, as far as this deployment can trust it.

Behind a load balancer every connection comes from the balancer, and the client's
address is in ``X-Forwarded-For``, which anyone can also forge. So the header is
read only when ``TRUSTED_PROXY_COUNT`` says how many proxies in front of us
append to it: each appends the address it received the connection from, so the
client's address is that many entries from the right, and whatever a client
wrote further left is ignored. Used by the gateway's failed-key throttle and by
the sign-in lockout (``AXES_CLIENT_IP_CALLABLE``), so both count the same thing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.http import HttpRequest


def client_address(meta: Mapping[str, Any]) -> str:
    """The client's address from a request's ``META`` (``""`` when unknown)."""
    remote = str(meta.get("REMOTE_ADDR") or "")
    count: int = settings.TRUSTED_PROXY_COUNT
    if count <= 0:
        return remote
    forwarded = [
        part.strip()
        for part in str(meta.get("HTTP_X_FORWARDED_FOR") or "").split(",")
        if part.strip()
    ]
    if len(forwarded) < count:
        # The request skipped a proxy we expect: only the peer is certain.
        return remote
    return forwarded[-count]


def request_client_address(request: HttpRequest) -> str:
    """``client_address`` for a request (the signature axes calls)."""
    return client_address(request.META)
