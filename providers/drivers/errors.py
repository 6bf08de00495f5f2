"""The one error type drivers raise, and the one mapping from upstream failures.

``DriverError(message, status=, code=, type=, param=, retry_after=)`` is a
failure the gateway answers with OpenAI's error envelope (PROTOCOLS.md 1.9). It
is permanent: retrying the same call will not help. ``TransientDriverError`` is
the kind that may pass (timeouts, 5xx, 429, unreachable): the gateway fails over
to the next provider before the first byte, and Celery tasks retry it
(``autoretry_for``). Whether an error makes a provider unavailable or failed is
decided by ``providers/health.py`` alone, from the error.

``error_from_status`` maps an HTTP status (every vendor's, after its own body
parsing) and ``error_from_exception`` a transport failure. Credentials are
scrubbed once, at the driver boundary (``boundary.py``), not here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import aiohttp
import httpx

from providers.http import OutboundBlocked, OutboundUnresolvable


class DriverError(Exception):
    """A permanent failure: the gateway answers it as is and moves on to no one."""

    permanent = True
    #: Usage the failed attempt still spent upstream (a translated completions
    #: call whose other prompts were answered); its usage record carries it.
    spent: dict[str, Any] | None = None

    def __init__(
        self,
        message: str,
        *,
        status: int = 502,
        code: str | None = "upstream_error",
        type: str = "api_error",
        param: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.type = type
        self.code = code
        self.param = param
        self.retry_after = retry_after

    @property
    def transient(self) -> bool:
        """Whether the failure may pass: the inverse of ``permanent``."""
        return not self.permanent

    def envelope(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.status}, {self.code!r}, {self.message!r})"


class TransientDriverError(DriverError):
    """A failure that may pass (timeout, 5xx, 429, unreachable): retry or fail over."""

    permanent = False


def as_permanent(err: DriverError) -> DriverError:
    """``err`` as a permanent error (the vendor said retrying will not help)."""
    if err.permanent:
        return err
    return DriverError(
        err.message,
        status=err.status,
        code=err.code,
        type=err.type,
        param=err.param,
        retry_after=err.retry_after,
    )


def invalid_request(
    message: str, param: str | None = None, code: str = "invalid_value"
) -> DriverError:
    """A caller mistake found while translating (400, never retried)."""
    return DriverError(
        message, status=400, type="invalid_request_error", code=code, param=param
    )


def check_vendor_range(
    request: Mapping[str, Any],
    param: str,
    vendor: str,
    low: float,
    high: float,
    *,
    high_exclusive: bool = False,
) -> None:
    """Refuse (400) a value the vendor cannot take, naming its range.

    The gateway never clamps or drops such a value: the caller asked for it,
    and a silently different request is a different answer.
    """
    value = request.get(param)
    if value is None or isinstance(value, bool) or not isinstance(value, int | float):
        return
    above = value >= high if high_exclusive else value > high
    if value < low or above:
        bound = f"below {high:g}" if high_exclusive else f"to {high:g}"
        raise invalid_request(
            f"{vendor} accepts {param} from {low:g} {bound}; got {value!r}.",
            param,
            "unsupported_value",
        )


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``retry-after``, if stated."""
    value = headers.get("retry-after-ms")
    if value:
        try:
            return max(0.0, float(value) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            return None
    return None


def error_from_status(
    status: int,
    message: str,
    headers: Mapping[str, str] | None = None,
    vendor: str = "upstream",
) -> DriverError:
    """Map an upstream HTTP failure to the gateway's answer (PROTOCOLS.md 1.9)."""
    headers = headers or {}
    message = message.strip()[:1000] or f"{vendor} answered HTTP {status}"
    if status == 429:
        return TransientDriverError(
            f"{vendor} rate limit: {message}",
            status=429,
            type="rate_limit_error",
            code="upstream_rate_limited",
            retry_after=parse_retry_after(headers),
        )
    if status in (401, 403):
        return DriverError(
            f"{vendor} refused the provider's credentials: {message}",
            code="upstream_auth_error",
        )
    if status == 404:
        return DriverError(
            f"{vendor} does not know this model or route: {message}",
            code="upstream_model_not_found",
        )
    if status == 413:
        return DriverError(
            message, status=413, type="invalid_request_error", code="request_too_large"
        )
    if status in (408, 504):
        return TransientDriverError(
            f"{vendor} timed out: {message}", status=504, code="upstream_timeout"
        )
    if status in (503, 529):
        return TransientDriverError(
            f"{vendor} is unavailable: {message}",
            status=503,
            code="upstream_overloaded" if status == 529 else "upstream_unavailable",
            retry_after=parse_retry_after(headers),
        )
    if status >= 500:
        return TransientDriverError(f"{vendor} error: {message}", status=502)
    if status >= 400:
        return DriverError(
            message,
            status=400,
            type="invalid_request_error",
            code="upstream_invalid_request",
        )
    return DriverError(f"{vendor} answered HTTP {status}")


def error_from_exception(exc: Exception, vendor: str = "upstream") -> DriverError:
    """Map a transport failure (timeout, refused connection) to the gateway's answer."""
    if isinstance(exc, DriverError):
        return exc
    if isinstance(exc, OutboundBlocked):
        # Our configuration points somewhere we may not go; transient so the
        # gateway fails over to the next provider (health calls it failed).
        return TransientDriverError(str(exc), code="upstream_blocked")
    if isinstance(exc, OutboundUnresolvable):
        return TransientDriverError(
            f"{vendor} is unreachable: its host name does not resolve.",
            status=503,
            code="upstream_unavailable",
        )
    if isinstance(exc, httpx.InvalidURL):
        return TransientDriverError(
            f"The {vendor} endpoint URL is not valid.", code="provider_misconfigured"
        )
    if isinstance(exc, httpx.TimeoutException):
        # httpx-aiohttp reports a refused connection as ConnectTimeout; aiohttp's
        # real timeouts subclass TimeoutError, its connection errors do not.
        cause = exc.__cause__
        if isinstance(cause, aiohttp.ClientError) and not isinstance(
            cause, TimeoutError
        ):
            return TransientDriverError(
                f"{vendor} is unreachable ({type(cause).__name__})",
                status=503,
                code="upstream_unavailable",
            )
        return TransientDriverError(
            f"{vendor} timed out", status=504, code="upstream_timeout"
        )
    if isinstance(exc, httpx.TransportError):
        return TransientDriverError(
            f"{vendor} is unreachable ({type(exc).__name__})",
            status=503,
            code="upstream_unavailable",
        )
    return DriverError(f"{vendor} call failed ({type(exc).__name__})")


def error_message_from_body(body: bytes | str) -> str:
    """The human message inside a vendor error body, whatever its shape."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    try:
        data = json.loads(text)
    except ValueError:
        return text.strip()[:500]
    if isinstance(data, list) and data:
        data = data[0]
    if isinstance(data, dict):
        err = data.get("error", data)
        if isinstance(err, dict):
            for key in ("message", "Message", "detail"):
                if isinstance(err.get(key), str):
                    return str(err[key])
        if isinstance(err, str):
            return err
        if isinstance(data.get("message"), str):
            return str(data["message"])
    return text.strip()[:500]


def malformed_stream(vendor: str, what: str) -> DriverError:
    """An event the stream parser cannot read: the stream ends with this error.

    Skipping it would answer 200 with part of the answer missing. Transient:
    before the first byte, the next provider may do better.
    """
    return TransientDriverError(
        f"{vendor} sent a malformed stream event ({what}).", code="upstream_malformed"
    )


def stream_error(exc: Exception, vendor: str) -> DriverError:
    """A failure after the stream began: reported as an in-band error event."""
    err = error_from_exception(exc, vendor)
    if err.code == "upstream_error" and not isinstance(exc, DriverError):
        err.message = f"{vendor} stream broke off ({type(exc).__name__})"
    return err
