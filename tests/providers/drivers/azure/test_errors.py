"""azure: error mapping (vendor error answers → DriverError)."""

from __future__ import annotations

import json

import pytest

from providers.drivers.azure.errors import azure_error
from providers.drivers.azure.translate import (
    chat_url,
)
from providers.drivers.errors import DriverError
from providers.health import health_of
from tests.providers.drivers.azure.support import cfg


def test_unknown_surface_is_a_configuration_failure() -> None:
    with pytest.raises(DriverError) as info:
        chat_url(cfg(api_surface="v2"), "x")
    assert health_of(info.value) == "failed"


def test_content_filter_error_is_the_callers() -> None:
    body = json.dumps(
        {
            "error": {
                "message": "The response was filtered",
                "type": None,
                "param": "prompt",
                "code": "content_filter",
                "status": 400,
                "innererror": {"code": "ResponsibleAIPolicyViolation"},
            }
        }
    ).encode()
    err = azure_error(400, body, {})
    assert (err.status, err.type, err.code, err.param) == (
        400,
        "invalid_request_error",
        "content_filter",
        "prompt",
    )


def test_not_found_errors() -> None:
    missing = json.dumps(
        {"error": {"code": "DeploymentNotFound", "message": "no deployment"}}
    ).encode()
    err = azure_error(404, missing, {})
    assert (err.status, err.code, health_of(err)) == (
        502,
        "upstream_model_not_found",
        "unavailable",
    )
    route = json.dumps({"error": {"code": "404", "message": "Resource not found"}})
    err = azure_error(404, route.encode(), {})
    assert health_of(err) == "failed" and "api_version" in err.message
