"""Ollama errors (``{"error": "..."}`` at any status) → ``DriverError``."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from providers.drivers.errors import (
    DriverError,
    error_from_status,
    error_message_from_body,
)

VENDOR = "ollama"


def error_from_body(
    status: int, body: Any, headers: Mapping[str, str] | None = None
) -> DriverError:
    """Ollama ``{"error": "..."}`` (any status) -> DriverError."""
    if isinstance(body, (bytes, str)):
        message = error_message_from_body(body)
    elif isinstance(body, dict) and isinstance(body.get("error"), str):
        message = body["error"]
    else:
        message = json.dumps(body)[:500]
    if status < 400:  # an error reported inside a 200 answer (stream or body)
        return DriverError(f"{VENDOR} error: {message}", status=502)
    if "try pulling it first" in message and status != 404:
        status = 404
    return error_from_status(status, message, headers or {}, VENDOR)
