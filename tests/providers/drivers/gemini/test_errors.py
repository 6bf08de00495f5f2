"""gemini: error mapping (vendor error answers → DriverError)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from providers.drivers.errors import DriverError
from providers.drivers.gemini.errors import error_from_gemini
from providers.drivers.gemini.translate import build_chat_body
from tests.providers.drivers.gemini.support import MODEL, body_for, google, ref_bomb
from tests.providers.drivers.vectors import user


def test_unsupported_content_parts_are_refused() -> None:
    request = {"messages": [{"role": "user", "content": [{"type": "video", "x": 1}]}]}
    with pytest.raises(DriverError) as err:
        build_chat_body(request, MODEL)
    assert (err.value.status, err.value.param) == (400, "messages[0].content[0].type")


def test_invalid_tool_call_arguments_are_400_naming_the_param() -> None:
    messages = [
        user("hi"),
        {
            "role": "assistant",
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "f", "arguments": "{oops"},
                }
            ],
        },
    ]
    with pytest.raises(DriverError) as err:
        body_for(messages=messages)
    assert err.value.status == 400
    assert err.value.param == "messages[1].tool_calls[0].function.arguments"


@pytest.mark.parametrize(
    ("status", "gstatus", "expected"),
    [
        (400, "INVALID_ARGUMENT", (400, "upstream_invalid_request")),
        (400, "FAILED_PRECONDITION", (400, "upstream_invalid_request")),
        (401, "UNAUTHENTICATED", (502, "upstream_auth_error")),
        (403, "PERMISSION_DENIED", (502, "upstream_auth_error")),
        (404, "NOT_FOUND", (502, "upstream_model_not_found")),
        (429, "RESOURCE_EXHAUSTED", (429, "upstream_rate_limited")),
        (500, "INTERNAL", (502, "upstream_error")),
        (503, "UNAVAILABLE", (503, "upstream_unavailable")),
        (504, "DEADLINE_EXCEEDED", (504, "upstream_timeout")),
    ],
)
def test_error_statuses_map_per_table(status: int, gstatus: str, expected: Any) -> None:
    err = error_from_gemini(status, google(status, gstatus, "Something."))
    assert (err.status, err.code) == expected


def test_rate_limits_carry_retry_after_from_the_header_or_retry_info() -> None:
    retry_info = [
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "12s"}
    ]
    body = google(429, "RESOURCE_EXHAUSTED", "Quota.", details=retry_info)
    assert error_from_gemini(429, body).retry_after == 12.0
    assert error_from_gemini(429, body, {"retry-after": "7"}).retry_after == 7.0


def test_error_details_overloaded_list_bodies_and_secrets() -> None:
    body = json.dumps(
        [
            {
                "error": {
                    "code": 503,
                    "message": "The model is overloaded.",
                    "status": "UNAVAILABLE",
                }
            }
        ]
    )
    err = error_from_gemini(503, body)
    assert (err.status, err.code) == (503, "upstream_overloaded")
    assert error_from_gemini(502, b"<html>Bad Gateway</html>").status == 502


@pytest.mark.parametrize(
    ("field", "value", "rule"),
    [
        ("presence_penalty", 2.0, "from -2 below 2"),
        ("frequency_penalty", 2, "from -2 below 2"),
        ("n", 9, "from 1 to 8"),
    ],
)
def test_values_gemini_cannot_take_are_refused_with_its_range(field, value, rule):
    with pytest.raises(DriverError) as info:
        body_for(messages=[{"role": "user", "content": "x"}], **{field: value})
    assert (info.value.status, info.value.param) == (400, field)
    assert rule in info.value.message


def test_a_ref_bomb_tool_schema_is_refused_before_it_expands() -> None:
    schema = ref_bomb()
    assert len(json.dumps(schema)) < 2600
    tool = {"type": "function", "function": {"name": "f", "parameters": schema}}
    with pytest.raises(DriverError) as info:
        body_for(messages=[user("x")], tools=[tool])
    assert info.value.status == 400
    assert info.value.param == "tools[0].function.parameters"
    assert info.value.code == "schema_too_large"
