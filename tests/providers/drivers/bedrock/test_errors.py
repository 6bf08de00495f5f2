"""bedrock: error mapping (vendor error answers → DriverError)."""

from __future__ import annotations

from typing import Any

import pytest

from providers.drivers.bedrock.embeddings import embedding_inputs
from providers.drivers.bedrock.errors import aws_error, parse_error
from providers.drivers.errors import DriverError
from tests.providers.drivers.bedrock.support import WEATHER, body_of, tool_history
from tests.providers.drivers.vectors import user


def test_a_temperature_above_bedrocks_maximum_is_refused_not_clamped() -> None:
    with pytest.raises(DriverError) as info:
        body_of({"messages": [user("x")], "temperature": 1.7})
    assert (info.value.status, info.value.param) == (400, "temperature")
    assert "Bedrock accepts temperature from 0 to 1" in info.value.message


@pytest.mark.parametrize(
    ("part", "param"),
    [
        (
            {"type": "image_url", "image_url": {"url": "data:image/bmp;base64,AAAA"}},
            "messages[0].content[0].image_url.url",
        ),
        (
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,!!"}},
            "messages[0].content[0].image_url.url",
        ),
        (
            {"type": "input_audio", "input_audio": {"data": "x", "format": "wav"}},
            "messages[0].content[0]",
        ),
    ],
)
def test_it_rejects_unsupported_content(part: dict[str, Any], param: str) -> None:
    with pytest.raises(DriverError) as info:
        body_of({"messages": [{"role": "user", "content": [part]}]})
    assert info.value.status == 400
    assert info.value.param == param


@pytest.mark.parametrize(
    "extra",
    [
        {
            "tools": [WEATHER],
            "tool_choice": {"type": "function", "function": {"name": "nope"}},
        },
        {"tools": [WEATHER], "tool_choice": {"type": "allowed_tools"}},
        {"tool_choice": "required"},
        {"tools": [{"type": "custom", "custom": {"name": "x"}}]},
        {"n": 2},
        {"logprobs": True},
        {"response_format": {"type": "json_object"}},
    ],
)
def test_it_rejects_what_bedrock_cannot_honour(extra: dict[str, Any]) -> None:
    with pytest.raises(DriverError) as info:
        body_of({"messages": [user("x")], **extra})
    assert info.value.status == 400
    assert info.value.type == "invalid_request_error"


def test_it_rejects_invalid_tool_call_arguments() -> None:
    history = tool_history()
    history[1]["tool_calls"][0]["function"]["arguments"] = "{not json"
    with pytest.raises(DriverError) as info:
        body_of({"messages": history, "tools": [WEATHER]})
    assert info.value.status == 400
    assert info.value.param == "messages[1].tool_calls[0].function.arguments"


@pytest.mark.parametrize(
    ("status", "code", "expected_status", "expected_code"),
    [
        (400, "ValidationException", 400, "upstream_invalid_request"),
        (403, "AccessDeniedException", 502, "upstream_auth_error"),
        (403, "UnrecognizedClientException", 502, "upstream_auth_error"),
        (403, "InvalidSignatureException", 502, "upstream_auth_error"),
        (403, "ExpiredTokenException", 502, "upstream_auth_error"),
        (404, "ResourceNotFoundException", 502, "upstream_model_not_found"),
        (429, "ThrottlingException", 429, "upstream_rate_limited"),
        (400, "ServiceQuotaExceededException", 429, "upstream_rate_limited"),
        (408, "ModelTimeoutException", 504, "upstream_timeout"),
        (503, "ServiceUnavailableException", 503, "upstream_unavailable"),
        (429, "ModelNotReadyException", 503, "upstream_unavailable"),
        (424, "ModelErrorException", 502, "upstream_error"),
        (500, "InternalServerException", 502, "upstream_error"),
        (502, "SomethingElse", 502, "upstream_error"),
    ],
)
def test_aws_errors_map_to_gateway_errors(
    status: int, code: str, expected_status: int, expected_code: str
) -> None:
    headers = {"x-amzn-ErrorType": f"{code}:http://internal.amazon.com/coral/x/"}
    err = parse_error(status, b'{"message":"Boom here."}', headers)
    assert (err.status, err.code) == (expected_status, expected_code)
    assert "Boom here." in err.message
    if expected_code == "upstream_auth_error":
        assert err.permanent


def test_error_shapes_message_capitalised_and_type_in_body() -> None:
    err = parse_error(
        400,
        b'{"__type":"com.amazon.coral.validate#ValidationException","Message":"Bad."}',
        {},
    )
    assert err.status == 400 and err.message.endswith("Bad.")
    throttled = aws_error("ThrottlingException", "slow down", 429, {"retry-after": "7"})
    assert throttled.retry_after == 7.0 and throttled.transient
    missing = parse_error(
        404,
        b'{"message":"The provided model identifier is invalid."}',
        {"x-amzn-ErrorType": "ResourceNotFoundException:"},
    )
    assert "not enabled in this region" in missing.message


def test_embedding_inputs_reject_token_arrays_and_empty_strings() -> None:
    assert embedding_inputs({"input": "a"}) == ["a"]
    for bad in ([1, 2, 3], [[1, 2]], [""], []):
        with pytest.raises(DriverError) as info:
            embedding_inputs({"input": bad})
        assert info.value.status == 400
