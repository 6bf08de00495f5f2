"""Anthropic URLs and request headers (API version, beta flags)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from providers.drivers.config import DriverConfig

DEFAULT_BASE_URL = "https://api.anthropic.com"


ANTHROPIC_VERSION = "2023-06-01"


def base_url(cfg: DriverConfig) -> str:
    """The API root without a trailing ``/`` or ``/v1`` (both are common typos)."""
    url = (cfg.base_url or DEFAULT_BASE_URL).rstrip("/")
    if url.endswith("/v1"):
        url = url[:-3]
    return url


def messages_url(cfg: DriverConfig) -> str:
    return f"{base_url(cfg)}/v1/messages"


def count_tokens_url(cfg: DriverConfig) -> str:
    return f"{base_url(cfg)}/v1/messages/count_tokens"


def models_url(cfg: DriverConfig, limit: int, after_id: str | None = None) -> str:
    query: dict[str, Any] = {"limit": limit}
    if after_id:
        query["after_id"] = after_id
    return f"{base_url(cfg)}/v1/models?{urlencode(query)}"


def request_headers(
    cfg: DriverConfig, auth: Mapping[str, str], *, json_body: bool = True
) -> dict[str, str]:
    headers = dict(auth)
    headers["anthropic-version"] = ANTHROPIC_VERSION
    if json_body:
        headers["content-type"] = "application/json"
    beta = cfg.config.get("anthropic_beta")
    if isinstance(beta, list | tuple):
        beta = ",".join(str(b).strip() for b in beta if str(b).strip())
    if beta:
        headers["anthropic-beta"] = str(beta)
    return headers
