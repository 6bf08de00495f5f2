"""The pass-through request: a client's Messages body as sent (pure).

Only ``model`` is replaced (by the provider's model id) and ``stream`` set to
what the call does; every other field, known to us or not, travels untouched and
in its order. Headers: the provider's credentials, ``anthropic-version`` and
``anthropic-beta`` (the provider's configured betas first, then the client's,
each once).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["count_request", "input_tokens", "raw_body", "raw_request", "split_betas"]

from providers.drivers.anthropic.urls import (
    count_tokens_url,
    messages_url,
    request_headers,
)
from providers.drivers.config import DriverConfig, UpstreamRequest
from providers.drivers.errors import invalid_request
from providers.drivers.passthrough import raw_body


def split_betas(values: Iterable[Any]) -> list[str]:
    """Beta names from header values (comma-separated) or lists, each once."""
    out: list[str] = []
    for value in values:
        for name in str(value).split(","):
            name = name.strip()
            if name and name not in out:
                out.append(name)
    return out


def configured_betas(cfg: DriverConfig) -> list[str]:
    """The provider config's ``anthropic_beta`` (a string or a list)."""
    beta = cfg.config.get("anthropic_beta")
    if not beta:
        return []
    return split_betas(beta if isinstance(beta, list | tuple) else [beta])


def _headers(
    cfg: DriverConfig, auth: Mapping[str, str], betas: Iterable[str]
) -> dict[str, str]:
    headers = request_headers(cfg, auth)
    names = split_betas([*configured_betas(cfg), *betas])
    headers.pop("anthropic-beta", None)
    if names:
        headers["anthropic-beta"] = ",".join(names)
    return headers


def raw_request(
    cfg: DriverConfig,
    body: Mapping[str, Any],
    model_id: str,
    stream: bool,
    auth: Mapping[str, str],
    betas: Iterable[str] = (),
) -> UpstreamRequest:
    """The ``POST /v1/messages`` carrying ``body`` as sent."""
    headers = _headers(cfg, auth, betas)
    if stream:
        headers["accept"] = "text/event-stream"
    return UpstreamRequest(
        "POST", messages_url(cfg), headers, json=raw_body(body, model_id, stream)
    )


def count_request(
    cfg: DriverConfig,
    body: Mapping[str, Any],
    model_id: str,
    auth: Mapping[str, str],
    betas: Iterable[str] = (),
) -> UpstreamRequest:
    """The ``POST /v1/messages/count_tokens`` carrying ``body`` as sent."""
    if not isinstance(body, Mapping):
        raise invalid_request("The request body must be a JSON object.", None)
    return UpstreamRequest(
        "POST",
        count_tokens_url(cfg),
        _headers(cfg, auth, betas),
        json={**body, "model": model_id},
    )


def input_tokens(data: Any) -> int:
    """``input_tokens`` of a count_tokens answer (ValueError if it has none)."""
    count = data.get("input_tokens") if isinstance(data, Mapping) else None
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise ValueError("no input_tokens")
    return count
