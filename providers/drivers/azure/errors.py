"""Azure OpenAI error answers → ``DriverError``: OpenAI's mapping, Azure's codes."""

from __future__ import annotations

import json
from collections.abc import Mapping

from providers.drivers.config import DriverConfig
from providers.drivers.errors import DriverError
from providers.drivers.openai.errors import openai_error


def azure_error(
    status: int,
    body: bytes,
    headers: Mapping[str, str],
    vendor: str = "Azure OpenAI",
    cfg: DriverConfig | None = None,
) -> DriverError:
    """Azure's variant of the envelope: content filter, missing deployment/route."""
    err = openai_error(status, body, headers, vendor, cfg)
    try:
        data = json.loads(body)
    except (ValueError, TypeError):
        data = {}
    upstream = data.get("error") if isinstance(data, dict) else None
    upstream = upstream if isinstance(upstream, dict) else {}
    code = str(upstream.get("code") or "")
    inner = upstream.get("innererror") or {}
    inner_code = str(inner.get("code") or "") if isinstance(inner, dict) else ""
    if status == 400 and (
        code == "content_filter" or inner_code == "ResponsibleAIPolicyViolation"
    ):
        err.code = "content_filter"
        err.param = upstream.get("param") or "prompt"
    elif status == 404 and code != "DeploymentNotFound":
        # No such route: the endpoint or the api-version is wrong (configuration).
        err = DriverError(
            err.message + " (check the endpoint and api_version)",
            code="provider_misconfigured",
        )
    return err
