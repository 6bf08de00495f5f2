"""``Host`` validation for /v1, which runs without Django's middleware.

``config/asgi.py`` serves /v1 by a handler that never builds the request through
``HttpRequest.get_host()``, so ``ALLOWED_HOSTS`` would never be checked there.
``host_refusal`` is the whole check: call it with the ASGI scope before reading
anything else. Decisions are cached per ``Host`` value (bounded, and dropped
when ``ALLOWED_HOSTS`` or ``DEBUG`` changes), so the hot path pays one dict
lookup, not even a settings lookup (``settings.X`` runs Python code on every
access: 2 % of a call's samples).
"""

from __future__ import annotations

from typing import Any

import orjson
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http.request import split_domain_port, validate_host

_MAX_DECISIONS = 1024
_decisions: dict[bytes, bool] = {}

REFUSAL_BODY = orjson.dumps(
    {
        "error": {
            "message": "Invalid Host header: this host is not served here.",
            "type": "invalid_request_error",
            "param": None,
            "code": "invalid_host",
        }
    }
)


def allowed_hosts() -> list[str]:
    """``ALLOWED_HOSTS`` as Django applies it (DEBUG with none set allows localhost)."""
    hosts = list(settings.ALLOWED_HOSTS)
    if settings.DEBUG and not hosts:
        hosts = [".localhost", "127.0.0.1", "[::1]"]
    return hosts


def is_allowed_host(host: bytes) -> bool:
    """Whether a raw ``Host`` header value names a host in ``ALLOWED_HOSTS``."""
    decision = _decisions.get(host)
    if decision is None:
        try:
            text = host.decode("ascii")
        except UnicodeDecodeError:
            text = ""
        domain, _port = split_domain_port(text)
        decision = bool(domain) and validate_host(domain, allowed_hosts())
        if len(_decisions) >= _MAX_DECISIONS:
            _decisions.clear()
        _decisions[host] = decision
    return decision


@receiver(setting_changed)
def _forget_decisions(setting: str, **kwargs: Any) -> None:
    if setting in ("ALLOWED_HOSTS", "DEBUG"):
        _decisions.clear()


def host_refusal(scope: dict[str, Any]) -> bytes | None:
    """The 400 body to answer when the request's Host is not allowed, else None.

    A request without a Host header (HTTP/1.0) is checked by the server's own
    address, as Django's ``get_host()`` does.
    """
    host = None
    for name, value in scope.get("headers", ()):
        if name == b"host":
            host = value
            break
    if host is None:
        server = scope.get("server") or ("", None)
        host = f"{server[0]}:{server[1]}".encode() if server[1] else b""
    return None if is_allowed_host(host) else REFUSAL_BODY
