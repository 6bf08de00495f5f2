"""A ``DriverError`` in Anthropic's error envelope, with Anthropic's status (pure).

``envelope(err)`` gives ``(status, {"type": "error", "error": {"type", "message"}})``
so the official SDK raises its own exception class for the status. Types by
status, as Anthropic documents them; the gateway's own upstream statuses map as:

- 502 (the provider failed) stays 502 ``api_error``: the caller's SDK raises
  ``InternalServerError`` as for any 5xx, and the status still says the failure
  was upstream, not ours (500).
- 503 ``upstream_overloaded`` (the vendor said overloaded, e.g. Anthropic's own
  529) becomes 529 ``overloaded_error``, what Anthropic answers, so agents that
  back off on ``OverloadedError`` do so; any other 503 (a provider unreachable,
  limits unavailable) stays 503 with ``overloaded_error`` (the SDK raises
  ``ServiceUnavailableError``).
- 504 stays 504 with ``timeout_error`` (the SDK's ``GatewayTimeoutError``).

``uses_envelope(path, anthropic_version)`` says which dialect a /v1 request
gets its errors in: the Anthropic routes always, any route when the client sent
``anthropic-version`` (every Anthropic SDK does).
"""

from __future__ import annotations

from typing import Any

from providers.drivers.errors import DriverError

MESSAGES_PREFIX = "/v1/messages"

TYPES_BY_STATUS = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    502: "api_error",
    503: "overloaded_error",
    504: "timeout_error",
    529: "overloaded_error",
}


def error_type(status: int) -> str:
    """Anthropic's error type for an HTTP status."""
    if status in TYPES_BY_STATUS:
        return TYPES_BY_STATUS[status]
    return "api_error" if status >= 500 else "invalid_request_error"


def status_of(err: DriverError) -> int:
    """The status an Anthropic client gets for ``err``."""
    if err.status == 503 and err.code == "upstream_overloaded":
        return 529
    return err.status


def envelope(err: DriverError) -> tuple[int, dict[str, Any]]:
    """``(status, body)`` of ``err`` in Anthropic's error envelope."""
    status = status_of(err)
    return status, {
        "type": "error",
        "error": {"type": error_type(status), "message": err.message},
    }


def event_error(err: DriverError) -> tuple[str, str]:
    """``(type, message)`` of a mid-stream ``error`` event for ``err``."""
    return error_type(status_of(err)), err.message


def uses_envelope(path: str, anthropic_version: str | None) -> bool:
    """Whether a /v1 request is answered in Anthropic's envelope."""
    return bool(anthropic_version) or (
        path == MESSAGES_PREFIX or path.startswith(MESSAGES_PREFIX + "/")
    )
