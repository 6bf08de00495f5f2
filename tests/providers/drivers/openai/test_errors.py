"""openai: error mapping (vendor error answers → DriverError)."""

from __future__ import annotations

import pytest

from providers.drivers.errors import DriverError
from providers.drivers.openai.errors import openai_error
from providers.drivers.openai.response import (
    parse_chat_response,
)
from providers.drivers.openai.translate import (
    build_chat_body,
)
from tests.providers.drivers.openai.support import cfg, err_body
from tests.providers.drivers.vectors import user


def test_drop_params_removes_fields_a_preset_rejects() -> None:
    request = {"messages": [user("x")], "user": "u1", "seed": 3}
    body = build_chat_body(cfg(drop_params=["user"]), request, "m", stream=False)
    assert "user" not in body and body["seed"] == 3


def test_error_inside_a_200_body_raises() -> None:
    with pytest.raises(DriverError) as info:
        parse_chat_response({"error": {"message": "upstream broke", "code": 502}})
    assert info.value.status == 502 and "upstream broke" in info.value.message
    with pytest.raises(DriverError):
        parse_chat_response({"object": "chat.completion"})
    with pytest.raises(DriverError):
        parse_chat_response(["not", "a", "dict"])


@pytest.mark.parametrize(
    ("status", "gateway_status", "code"),
    [
        (400, 400, "upstream_invalid_request"),
        (401, 502, "upstream_auth_error"),
        (403, 502, "upstream_auth_error"),
        (404, 502, "upstream_model_not_found"),
        (408, 504, "upstream_timeout"),
        (413, 413, "request_too_large"),
        (429, 429, "upstream_rate_limited"),
        (500, 502, "upstream_error"),
        (502, 502, "upstream_error"),
        (503, 503, "upstream_unavailable"),
    ],
)
def test_error_mapping(status: int, gateway_status: int, code: str) -> None:
    err = openai_error(status, err_body("boom"), {}, "OpenAI")
    assert (err.status, err.code) == (gateway_status, code)
    assert "boom" in err.message


def test_error_mapping_details() -> None:
    err = openai_error(429, err_body("slow down"), {"retry-after": "7"})
    assert err.retry_after == 7 and err.transient
    err = openai_error(
        400, err_body("too long", "context_length_exceeded", "messages"), {}
    )
    assert err.param == "messages" and err.type == "invalid_request_error"
    err = openai_error(500, b"<html>oops</html>", {"x-should-retry": "false"})
    assert err.status == 502 and err.permanent
