"""Embeddings through ``/api/embed``: request body and answer (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from providers.drivers.canonical import embeddings_list
from providers.drivers.config import DriverConfig
from providers.drivers.errors import DriverError, invalid_request
from providers.drivers.ollama.errors import VENDOR


def build_embed_body(
    cfg: DriverConfig, request: Mapping[str, Any], model_id: str
) -> dict[str, Any]:
    value = request.get("input")
    if isinstance(value, str):
        if not value:
            raise invalid_request("input must not be empty.", "input")
    elif isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        pass
    elif isinstance(value, list) and value:
        raise invalid_request(
            "Ollama embeds strings only: token arrays are not supported.", "input"
        )
    else:
        raise invalid_request(
            "input must be a string or a non-empty array of strings.", "input"
        )
    fmt = request.get("encoding_format")
    if fmt not in (None, "float", "base64"):
        raise invalid_request(
            "encoding_format must be 'float' or 'base64'.", "encoding_format"
        )
    body: dict[str, Any] = {"model": model_id, "input": value}
    dims = request.get("dimensions")
    if dims is not None:
        if not isinstance(dims, int) or isinstance(dims, bool) or dims < 1:
            raise invalid_request(
                "dimensions must be a positive integer.", "dimensions"
            )
        body["dimensions"] = dims
    if cfg.config.get("embed_truncate") is not None:
        body["truncate"] = bool(cfg.config["embed_truncate"])
    if cfg.config.get("keep_alive") is not None:
        body["keep_alive"] = cfg.config["keep_alive"]
    return body


def parse_embed_response(
    body: Any, request: Mapping[str, Any], model_id: str = ""
) -> dict[str, Any]:
    if not isinstance(body, dict) or not isinstance(body.get("embeddings"), list):
        raise DriverError(f"{VENDOR} returned an unexpected embeddings answer.")
    return embeddings_list(
        body["embeddings"],
        str(body.get("model") or model_id),
        int(body.get("prompt_eval_count") or 0),
        request.get("encoding_format"),
    )
