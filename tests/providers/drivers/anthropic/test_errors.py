"""anthropic: error mapping (vendor error answers → DriverError)."""

from __future__ import annotations

import pytest

from providers.drivers.anthropic.errors import error_from_anthropic
from providers.drivers.errors import DriverError
from tests.providers.drivers.anthropic.support import (
    anthropic_error,
    body_for,
    conversation_with_tools,
)
from tests.providers.drivers.vectors import WEATHER_TOOL, user


@pytest.mark.parametrize("arguments", ['{"city": ', "[1, 2]", "42"])
def test_invalid_tool_call_arguments_are_400(arguments: str) -> None:
    messages = conversation_with_tools()
    messages[1]["tool_calls"][1]["function"]["arguments"] = arguments
    with pytest.raises(DriverError) as info:
        body_for({"messages": messages, "tools": [WEATHER_TOOL]})
    assert info.value.status == 400
    assert info.value.param == "messages[1].tool_calls[1].function.arguments"


def test_a_temperature_above_anthropics_maximum_is_refused_not_clamped() -> None:
    with pytest.raises(DriverError) as info:
        body_for({"messages": [user("hi")], "temperature": 1.7})
    assert (info.value.status, info.value.param) == (400, "temperature")
    assert "from 0 to 1" in info.value.message


@pytest.mark.parametrize(
    ("status", "kind", "expected_status", "code"),
    [
        (400, "invalid_request_error", 400, "upstream_invalid_request"),
        (401, "authentication_error", 502, "upstream_auth_error"),
        (403, "permission_error", 502, "upstream_auth_error"),
        (404, "not_found_error", 502, "upstream_model_not_found"),
        (413, "request_too_large", 413, "request_too_large"),
        (429, "rate_limit_error", 429, "upstream_rate_limited"),
        (500, "api_error", 502, "upstream_error"),
        (503, "api_error", 503, "upstream_unavailable"),
        (504, "timeout_error", 504, "upstream_timeout"),
        (529, "overloaded_error", 503, "upstream_overloaded"),
        (402, "billing_error", 502, "upstream_error"),
    ],
)
def test_http_error_mapping(
    status: int, kind: str, expected_status: int, code: str
) -> None:
    error = error_from_anthropic(
        status,
        anthropic_error(kind, "max_tokens: Field required"),
        {"retry-after": "7"},
    )
    assert (error.status, error.code) == (expected_status, code)
    assert "max_tokens: Field required" in error.message


def test_rate_limit_keeps_retry_after_and_spend_limit_is_permanent() -> None:
    error = error_from_anthropic(
        429, anthropic_error("rate_limit_error"), {"retry-after": "7"}
    )
    assert (error.retry_after, error.transient) == (7.0, True)
    spend = error_from_anthropic(
        429,
        anthropic_error(
            "rate_limit_error", details={"error_code": "enforced_spend_limit_reached"}
        ),
        {},
    )
    assert (spend.status, spend.permanent) == (429, True)


def test_non_json_error_body() -> None:
    error = error_from_anthropic(502, b"<html>Bad gateway</html>", {})
    assert (error.status, error.code) == (502, "upstream_error")
    assert "Bad gateway" in error.message
