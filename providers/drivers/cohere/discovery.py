"""Cohere's model list (``GET /v1/models``) → ``ModelInfo`` (pure).

Each model names the ``endpoints`` it serves: ``rerank`` makes a rerank model,
``embed`` an embedding model, ``chat`` an inference model; models serving none
of these (classify, for instance) are not listed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from providers.drivers.config import ModelInfo

PAGE_SIZE = 1000


def model_type(endpoints: Any) -> str | None:
    served = set(endpoints) if isinstance(endpoints, list) else set()
    if "rerank" in served:
        return "rerank"
    if "embed" in served:
        return "embedding"
    if "chat" in served:
        return "inference"
    return None


def parse_models(page: Mapping[str, Any]) -> list[ModelInfo]:
    found = []
    for row in page.get("models") or ():
        if not isinstance(row, dict) or not isinstance(row.get("name"), str):
            continue
        kind = model_type(row.get("endpoints"))
        if kind is None:
            continue
        context = row.get("context_length")
        found.append(
            ModelInfo(
                model_id=row["name"],
                name=row["name"],
                model_type=kind,
                context_window=int(context)
                if isinstance(context, (int, float)) and context > 0
                else None,
            )
        )
    return found
