"""The gateway's errors, answered in OpenAI's envelope with a fitting status.

Every error the gateway itself raises is built here, and ``error_response``
and ``error_event`` are the only places an error becomes bytes. ``DriverError``
is re-exported so the rest of ``gateway`` imports it from here.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

import orjson
from django.http import HttpResponse

from gateway.anthropic import errors as anthropic_errors

# Re-exported (the explicit alias): gateway modules import it from here.
from providers.drivers.errors import DriverError as DriverError
from providers.drivers.errors import TransientDriverError

NANO = Decimal(1_000_000_000)


class GatewayError(DriverError):
    """A gateway-side refusal (auth, routing, limits, bad input)."""


def invalid_api_key(message: str = "Incorrect API key provided.") -> GatewayError:
    return GatewayError(
        message,
        status=401,
        type="invalid_request_error",
        code="invalid_api_key",
    )


def model_not_found(name: str) -> GatewayError:
    # The same text whether the model is missing or merely invisible (DESIGN.md).
    return GatewayError(
        f"The model `{name}` does not exist or you do not have access to it.",
        status=404,
        type="invalid_request_error",
        code="model_not_found",
    )


def model_not_allowed(name: str) -> GatewayError:
    return GatewayError(
        f"This API key may not use the model `{name}`.",
        status=403,
        type="permission_error",
        code="model_not_allowed",
    )


def bad_request(
    message: str, param: str | None = None, code: str = "invalid_value"
) -> GatewayError:
    return GatewayError(
        message,
        status=400,
        type="invalid_request_error",
        code=code,
        param=param,
    )


def wrong_model_type(name: str, model_type: str) -> GatewayError:
    article = "an" if model_type[0] in "aeiou" else "a"
    return bad_request(
        f"The model `{name}` is not {article} {model_type} model.",
        "model",
        "invalid_model_type",
    )


def response_not_found(response_id: str) -> GatewayError:
    """A stored response that is missing, expired or another organization's.

    One answer for all three, so an id never tells whether it exists elsewhere.
    """
    return GatewayError(
        f"No response found with id '{response_id[:200]}'.",
        status=404,
        type="invalid_request_error",
        code="response_not_found",
    )


def previous_response_not_found(response_id: str) -> GatewayError:
    """A ``previous_response_id`` (or a link of its chain) that is not there.

    OpenAI answers this one with a 400 naming the parameter (the request is
    wrong, not its URL); missing, expired and foreign look the same.
    """
    return bad_request(
        f"Previous response with id '{response_id[:200]}' not found.",
        "previous_response_id",
        "previous_response_not_found",
    )


def method_not_allowed(method: str) -> GatewayError:
    return GatewayError(
        f"Method {method} is not allowed on this route.",
        status=405,
        type="invalid_request_error",
        code="method_not_allowed",
    )


def too_large(limit: int) -> GatewayError:
    return GatewayError(
        f"The request body is larger than this route accepts ({limit} bytes).",
        status=413,
        type="invalid_request_error",
        code="request_too_large",
    )


def unknown_url(method: str, path: str) -> GatewayError:
    return GatewayError(
        f"Invalid URL ({method} {path[:200]}).",
        status=404,
        type="invalid_request_error",
        code="unknown_url",
    )


def rate_limited(message: str, retry_after: float) -> GatewayError:
    return GatewayError(
        message,
        status=429,
        type="rate_limit_error",
        code="rate_limit_exceeded",
        retry_after=retry_after,
    )


def over_limit(scope: str, retry_after: float, unit: str = "requests") -> GatewayError:
    """A requests- or tokens-per-minute cap of the key, model or provider is full."""
    return rate_limited(
        f"Rate limit reached for this {'API key' if scope == 'key' else scope} "
        f"({unit} per minute). Retry after the time in Retry-After.",
        retry_after,
    )


def usd(amount: Decimal) -> str:
    """An amount as people write it: at least cents, more only where it has them."""
    text = f"{amount:.4f}".rstrip("0")
    return text + "0" * max(0, 2 - len(text.partition(".")[2]))


def over_budget(
    label: str,
    amount: Decimal,
    period: str,
    *,
    spent: int,
    reserved: int,
    retry_after: float | None,
) -> GatewayError:
    """A budget that applies to the call would be exceeded (OpenAI's 429).

    Names the budget and its figures: the caller is inside the budget's own
    organization (a budget never counts another organization's calls).
    """
    per = "in total" if period == "total" else f"per {period}"
    spent_usd = Decimal(spent) / NANO
    reserved_usd = Decimal(reserved) / NANO
    message = (
        f"Budget exceeded for {label}: limit {usd(amount)} USD {per}, "
        f"{spent_usd:.4f} USD spent"
        + (
            f" and {reserved_usd:.4f} USD reserved by calls in flight"
            if reserved
            else ""
        )
        + ". The call's estimated cost does not fit in what is left."
    )
    return GatewayError(
        message,
        status=429,
        type="insufficient_quota",
        code="insufficient_quota",
        retry_after=retry_after,
    )


def upstream_timeout() -> DriverError:
    return TransientDriverError(
        "The provider timed out.", status=504, code="upstream_timeout"
    )


def stream_timeout() -> DriverError:
    return DriverError(
        "The provider stream exceeded its time limit.",
        status=504,
        code="upstream_timeout",
    )


def empty_stream() -> DriverError:
    return TransientDriverError(
        "The provider sent an empty stream.", status=502, code="upstream_error"
    )


def provider_misconfigured(provider_name: str, reason: str) -> DriverError:
    return DriverError(
        f"The provider '{provider_name}' is misconfigured: {reason}",
        status=502,
        code="provider_misconfigured",
    )


# Failures whose message describes the provider's configuration (its host and
# addresses, the decryption keys configured): for its own organization only.
CONFIGURATION_CODES = frozenset({"upstream_blocked", "provider_misconfigured"})


def for_another_organization(err: DriverError) -> DriverError:
    """``err`` as a caller from another organization may see it.

    A provider shared through a grant or instance-wide fails with the same
    status and code, but a message that tells nothing of how its owner set it up.
    """
    if err.code not in CONFIGURATION_CODES:
        return err
    return type(err)(
        "The provider serving this model cannot be used with its current "
        "configuration; its owners can see why in its health status.",
        status=err.status,
        code=err.code,
        type=err.type,
    )


def internal_error(
    message: str = "The gateway failed to handle the request.",
) -> DriverError:
    """A bug of ours (or a dependency down): still the envelope SDKs understand."""
    return DriverError(message, status=500, code="internal_error")


def error_response(err: DriverError, *, anthropic: bool = False) -> HttpResponse:
    """``err`` as a JSON answer: OpenAI's envelope, or Anthropic's when asked."""
    if anthropic:
        status, payload = anthropic_errors.envelope(err)
    else:
        status, payload = err.status, err.envelope()
    body = orjson.dumps(payload)
    response = HttpResponse(body, status=status, content_type="application/json")
    if err.retry_after is not None:
        # Rounded up, so a client that waits this long is admitted; the SDKs
        # that read milliseconds get the exact figure.
        response["Retry-After"] = str(max(1, math.ceil(err.retry_after)))
        response["retry-after-ms"] = str(max(1, math.ceil(err.retry_after * 1000)))
    if should_not_retry(err):
        response["x-should-retry"] = "false"
    return response


def should_not_retry(err: DriverError) -> bool:
    """A permanent upstream failure the OpenAI SDK would otherwise retry (5xx, 429).

    The gateway's own refusals (its rate limits, no provider yet) keep the
    SDK's default: they may pass.
    """
    upstream = (err.code or "").startswith("upstream_") or (
        err.code == "provider_misconfigured"
    )
    return err.permanent and upstream and (err.status >= 500 or err.status == 429)


def error_event(err: DriverError) -> bytes:
    """A mid-stream error as an SSE event the OpenAI SDK raises on."""
    payload: dict[str, Any] = err.envelope()
    return b"data: " + orjson.dumps(payload) + b"\n\n"
