"""Gemini errors (HTTP answers and in-stream error objects) → ``DriverError``."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from providers.drivers.errors import DriverError, error_from_status, parse_retry_after

VENDOR = "gemini"


_GOOGLE_STATUS_HTTP = {
    **dict.fromkeys(("INVALID_ARGUMENT", "FAILED_PRECONDITION", "OUT_OF_RANGE"), 400),
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
    "NOT_FOUND": 404,
    "RESOURCE_EXHAUSTED": 429,
    "INTERNAL": 500,
    "UNAVAILABLE": 503,
    "DEADLINE_EXCEEDED": 504,
}


def error_from_gemini(
    status: int,
    body: bytes | str | Mapping[str, Any] | list[Any],
    headers: Mapping[str, str] | None = None,
) -> DriverError:
    """Map a Gemini error (HTTP answer, or ``status`` 0 for an in-stream one).

    Credentials are scrubbed at the driver boundary (``drivers/boundary.py``).
    """
    data: Any = body
    if isinstance(body, (bytes, str)):
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
        try:
            data = json.loads(text)
        except ValueError:
            data = {"error": {"message": text.strip()[:500]}}
    if isinstance(data, list) and data:
        data = data[0]
    err = data.get("error") if isinstance(data, dict) else None
    err = err if isinstance(err, dict) else {}
    message = str(err.get("message") or "")
    gstatus = str(err.get("status") or "")
    if not status:
        code = err.get("code")
        status = code if isinstance(code, int) and code >= 400 else 0
        status = status or _GOOGLE_STATUS_HTTP.get(gstatus, 500)
    details = [d for d in err.get("details") or [] if isinstance(d, dict)]
    reasons = {str(d.get("reason")) for d in details if d.get("reason")}
    if any(r.startswith("API_KEY_") for r in reasons) or gstatus == "UNAUTHENTICATED":
        return error_from_status(401, message, headers, VENDOR)
    headers = dict(headers or {})
    if parse_retry_after(headers) is None:
        for d in details:
            delay = str(d.get("retryDelay") or "")
            if delay.endswith("s") and delay[:-1].replace(".", "", 1).isdigit():
                headers["retry-after"] = delay[:-1]
    if gstatus == "RESOURCE_EXHAUSTED":
        status = 429
    result = error_from_status(status, message, headers, VENDOR)
    if result.status == 503 and "overload" in message.lower():
        result.code = "upstream_overloaded"
    return result
