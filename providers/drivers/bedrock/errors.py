"""Bedrock errors → ``DriverError``: AWS exception names and HTTP error bodies
(runtime and control plane alike). Credentials are scrubbed at the driver
boundary (``drivers/boundary.py``), like every vendor's.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from providers.drivers.errors import (
    DriverError,
    error_from_status,
)

VENDOR = "Bedrock"


_AUTH_ERRORS = frozenset(
    {
        "AccessDeniedException",
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "ExpiredTokenException",
        "ExpiredToken",
        "IncompleteSignatureException",
        "MissingAuthenticationTokenException",
        "InvalidClientTokenId",
        "SignatureDoesNotMatch",
    }
)


# AWS exception names → the HTTP status whose meaning they carry; the one
# status mapping (errors.error_from_status) does the rest.
_STATUS_OF: dict[str, int] = {
    **dict.fromkeys(_AUTH_ERRORS, 403),
    "ValidationException": 400,
    "ResourceNotFoundException": 404,
    "ThrottlingException": 429,
    "ServiceQuotaExceededException": 429,
    "ModelTimeoutException": 504,
    "ServiceUnavailableException": 503,
    "ModelNotReadyException": 503,
    "ModelErrorException": 500,
    "ModelStreamErrorException": 500,
    "InternalServerException": 500,
    "InternalFailure": 500,
}


def aws_error(
    code: str, message: str, status: int, headers: Mapping[str, str] | None = None
) -> DriverError:
    """An AWS exception name (+ message, HTTP status) → the gateway's DriverError."""
    message = message.strip()[:1000] or code
    if code in _STATUS_OF:
        status = _STATUS_OF[code]
        message = f"({code}) {message}"
    if code == "ResourceNotFoundException":
        message += " (the model id is unknown, or not enabled in this region)"
    return error_from_status(status, message, headers or {}, VENDOR)


def error_code(body: bytes, headers: Mapping[str, str]) -> tuple[str, str]:
    """(AWS exception name, message) from an error response."""
    data: Any = None
    try:
        data = json.loads(body) if body else None
    except ValueError:
        data = None
    if not isinstance(data, dict):
        data = {}
    raw = str(
        headers.get("x-amzn-errortype")
        or headers.get("x-amzn-ErrorType")
        or data.get("__type")
        or data.get("code")
        or ""
    )
    code = raw.split(":", 1)[0].rsplit("#", 1)[-1]
    message = data.get("message") or data.get("Message")
    if not isinstance(message, str):
        message = body.decode("utf-8", "replace").strip()[:500] if not data else ""
    return code, message


def parse_error(status: int, body: bytes, headers: Mapping[str, str]) -> DriverError:
    """A Bedrock HTTP error response → DriverError."""
    code, message = error_code(body, headers)
    return aws_error(code, message or f"HTTP {status}", status, headers)
