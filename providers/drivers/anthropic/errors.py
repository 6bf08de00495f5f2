"""Anthropic errors (HTTP answers and in-stream ``error`` events) → ``DriverError``."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from providers.drivers.errors import (
    DriverError,
    as_permanent,
    error_from_status,
    error_message_from_body,
)

VENDOR = "anthropic"


# HTTP status Anthropic uses for each error type (in-stream errors carry no status).
ERROR_TYPE_STATUS: dict[str, int] = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}


def _error_parts(body: Any) -> tuple[str, str, dict[str, Any]]:
    """(error type, message, details) from an Anthropic error body or event."""
    data = body
    if isinstance(body, bytes | str):
        try:
            data = json.loads(body)
        except ValueError:
            return "", error_message_from_body(body), {}
    err = data.get("error") if isinstance(data, dict) else None
    if not isinstance(err, dict):
        text = body if isinstance(body, bytes | str) else json.dumps(body)
        return "", error_message_from_body(text), {}
    given = err.get("details")
    details: dict[str, Any] = given if isinstance(given, dict) else {}
    return str(err.get("type") or ""), str(err.get("message") or ""), details


def error_from_anthropic(
    status: int | None, body: Any, headers: Mapping[str, str] | None = None
) -> DriverError:
    """An Anthropic error (HTTP answer, or in-stream event when ``status`` is None)."""
    err_type, message, details = _error_parts(body)
    if status is None:
        status = ERROR_TYPE_STATUS.get(err_type, 500)
    if err_type == "overloaded_error":
        status = 529
    if err_type == "billing_error" or status == 402:
        return DriverError(
            f"{VENDOR} billing problem on the provider's account: {message}",
            status=502,
            code="upstream_error",
        )
    error = error_from_status(status, message, headers or {}, VENDOR)
    if details.get("error_code") == "enforced_spend_limit_reached":
        # The account's spend limit: no retry passes it until someone raises it.
        error = as_permanent(error)
    return error


def error_from_event(payload: Any) -> DriverError:
    return error_from_anthropic(None, payload)
