"""Cohere's v2 rerank request (pure): ``POST {root}/v2/rerank``.

The root is the base URL without its ``/compatibility/v1`` (the Compatibility
API serves chat and embeddings; rerank and the model list are Cohere's own
API). v2 takes the documents as plain strings.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

COMPATIBILITY_PATH = "/compatibility/v1"


def api_root(base_url: str) -> str:
    base = base_url.rstrip("/")
    if base.endswith(COMPATIBILITY_PATH):
        return base[: -len(COMPATIBILITY_PATH)]
    return base


def rerank_url(base_url: str) -> str:
    return f"{api_root(base_url)}/v2/rerank"


def rerank_body(request: Mapping[str, Any], model_id: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": model_id,
        "query": request["query"],
        "documents": request["documents"],
    }
    if request["top_n"] is not None:
        body["top_n"] = request["top_n"]
    return body
