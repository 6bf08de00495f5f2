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
    TransientDriverError,
    error_from_status,
    parse_retry_after,
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


def aws_error(
    code: str, message: str, status: int, headers: Mapping[str, str] | None = None
) -> DriverError:
    """An AWS exception name (+ message, HTTP status) → the gateway's DriverError."""
    headers = headers or {}
    message = message.strip()[:1000] or code
    if code in _AUTH_ERRORS:
        return DriverError(
            f"Bedrock refused the provider's AWS credentials ({code}): {message}",
            status=502,
            code="upstream_auth_error",
        )
    if code == "ValidationException":
        return DriverError(
            f"Bedrock rejected the request: {message}",
            status=400,
            type="invalid_request_error",
            code="upstream_invalid_request",
        )
    if code == "ResourceNotFoundException":
        return DriverError(
            "Bedrock does not know this model id, or it is not enabled in this "
            f"region: {message}",
            status=502,
            code="upstream_model_not_found",
        )
    if code in ("ThrottlingException", "ServiceQuotaExceededException"):
        return TransientDriverError(
            f"Bedrock rate limit ({code}): {message}",
            status=429,
            type="rate_limit_error",
            code="upstream_rate_limited",
            retry_after=parse_retry_after(headers),
        )
    if code == "ModelTimeoutException":
        return TransientDriverError(
            f"Bedrock model timed out: {message}",
            status=504,
            code="upstream_timeout",
        )
    if code in ("ServiceUnavailableException", "ModelNotReadyException"):
        return TransientDriverError(
            f"Bedrock is unavailable ({code}): {message}",
            status=503,
            code="upstream_unavailable",
            retry_after=parse_retry_after(headers),
        )
    if code in (
        "ModelErrorException",
        "ModelStreamErrorException",
        "InternalServerException",
        "InternalFailure",
    ):
        return TransientDriverError(
            f"Bedrock error ({code}): {message}",
            status=502,
            code="upstream_error",
        )
    return error_from_status(status, message, headers, VENDOR)


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
