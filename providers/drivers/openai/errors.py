"""OpenAI error answers → ``DriverError`` (through the one status mapping).

Credentials are scrubbed at the driver boundary (``drivers/boundary.py``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from providers.drivers.config import DriverConfig
from providers.drivers.errors import (
    DriverError,
    as_permanent,
    error_from_status,
    error_message_from_body,
)


def _error_object(body: bytes | str) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (ValueError, TypeError):
        return {}
    err = data.get("error") if isinstance(data, dict) else None
    return err if isinstance(err, dict) else {}


def openai_error(
    status: int,
    body: bytes,
    headers: Mapping[str, str],
    vendor: str = "OpenAI",
    cfg: DriverConfig | None = None,
) -> DriverError:
    """An upstream error answer (OpenAI envelope or anything else) → DriverError."""
    # Credentials are scrubbed at the driver boundary (drivers/boundary.py).
    message = error_message_from_body(body)
    err = error_from_status(status, message, headers, vendor)
    upstream = _error_object(body)
    if err.status == 400 and isinstance(upstream.get("param"), str):
        err.param = upstream["param"]
    if str(headers.get("x-should-retry", "")).lower() == "false":
        err = as_permanent(err)
    return err


def error_from_stream_event(
    data: Mapping[str, Any], vendor: str = "OpenAI", cfg: DriverConfig | None = None
) -> DriverError:
    """``{"error": ...}`` inside a 200 answer (stream or body) → DriverError."""
    err = data.get("error")
    if isinstance(err, Mapping):
        message = str(err.get("message") or "")
        code, kind = err.get("code"), str(err.get("type") or "")
    else:
        message, code, kind = str(err or ""), None, ""
    status = 0
    if isinstance(code, int) or (isinstance(code, str) and code.isdigit()):
        status = int(code)
    if not 400 <= status <= 599:
        hint = f"{kind} {code or ''}".lower()
        if "rate_limit" in hint:
            status = 429
        elif "overloaded" in hint or "unavailable" in hint:
            status = 503
        elif "timeout" in hint:
            status = 504
        elif "invalid_request" in hint:
            status = 400
        else:
            status = 500
    message = message or f"{vendor} reported an error mid-answer"
    return error_from_status(status, message, {}, vendor)
