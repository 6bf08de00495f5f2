"""OpenAI request translation (pure): the canonical request is OpenAI's own.

Requests pass through (unknown fields kept) with ``model`` replaced by the
vendor id; reasoning models get ``max_completion_tokens``. A legacy
Completions body (``build_completions_body``) passes through as the client
sent it. Streams ask for usage (``stream_options.include_usage``) unless the
provider's ``stream_usage`` setting is false: the gateway drops the usage
chunk again for a caller that did not ask for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from providers.drivers.config import DriverConfig
from providers.drivers.passthrough import raw_body

# Model ids whose API rejects ``max_tokens`` (reasoning models).
REASONING_PREFIXES = ("o1", "o3", "o4", "gpt-5")


def is_reasoning_model(model_id: str) -> bool:
    """o1/o3/o4/gpt-5 ids (a routing prefix such as ``openai/`` is ignored)."""
    return model_id.rsplit("/", 1)[-1].lower().startswith(REASONING_PREFIXES)


def use_max_completion_tokens(body: dict[str, Any]) -> None:
    """Move ``max_tokens`` to ``max_completion_tokens`` (the caller's value wins)."""
    if "max_tokens" not in body:
        return
    value = body.pop("max_tokens")
    if value is not None and body.get("max_completion_tokens") is None:
        body["max_completion_tokens"] = value


def build_chat_body(
    cfg: DriverConfig, request: Mapping[str, Any], model_id: str, stream: bool
) -> dict[str, Any]:
    """The upstream body: the caller's fields, the vendor model, stream settings.

    ``cfg.config["drop_params"]`` (list) removes fields a preset rejects;
    ``cfg.config["stream_usage"]`` False stops sending ``stream_options``.
    """
    drop = set(cfg.config.get("drop_params") or ())
    body = {k: v for k, v in request.items() if k not in drop}
    body["model"] = model_id
    if is_reasoning_model(model_id):
        use_max_completion_tokens(body)
    body.pop("stream", None)
    options = body.pop("stream_options", None)
    if stream:
        body["stream"] = True
        ask_stream_usage(cfg, body, options)
    return body


def ask_stream_usage(cfg: DriverConfig, body: dict[str, Any], options: Any) -> None:
    """``body`` (a stream) asks for the usage chunk, the caller's options kept;
    a provider whose ``stream_usage`` is false rejects ``stream_options``: none."""
    if not cfg.config.get("stream_usage", True):
        return
    merged = dict(options) if isinstance(options, dict) else {}
    merged["include_usage"] = True
    body["stream_options"] = merged


def build_completions_body(
    cfg: DriverConfig, request: Mapping[str, Any], model_id: str, stream: bool
) -> dict[str, Any]:
    """A legacy Completions body as sent, ``model`` replaced; a stream asks
    for usage (``ask_stream_usage``)."""
    body = raw_body(request, model_id, stream)
    if stream:
        ask_stream_usage(cfg, body, body.pop("stream_options", None))
    return body


def build_embeddings_body(
    cfg: DriverConfig, request: Mapping[str, Any], model_id: str
) -> dict[str, Any]:
    drop = set(cfg.config.get("drop_params") or ())
    body = {k: v for k, v in request.items() if k not in drop}
    body["model"] = model_id
    return body
