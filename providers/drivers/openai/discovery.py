"""OpenAI model listing (``GET /models``) → ``ModelInfo`` (pure)."""

from __future__ import annotations

from typing import Any

from providers.drivers.config import ModelInfo


def classify_model(model_id: str, declared: str | None = None) -> str:
    """inference | embedding | rerank, from a declared type or the id."""
    declared = (declared or "").lower()
    if declared in ("embedding", "embeddings"):
        return "embedding"
    if declared == "rerank":
        return "rerank"
    lowered = model_id.lower()
    if "rerank" in lowered:
        return "rerank"
    if lowered.startswith("text-embedding") or "embed" in lowered:
        return "embedding"
    return "inference"


_CONTEXT_KEYS = ("context_window", "context_length", "max_model_len")


def parse_models(data: Any) -> list[ModelInfo]:
    """``GET /models`` (``{"data": [...]}`` or, as Together sends, a bare list)."""
    rows = data.get("data") if isinstance(data, dict) else data
    models = []
    for row in rows if isinstance(rows, list) else ():
        if not isinstance(row, dict) or not row.get("id"):
            continue
        model_id = str(row["id"])
        context = next(
            (row[k] for k in _CONTEXT_KEYS if isinstance(row.get(k), int)), None
        )
        models.append(
            ModelInfo(
                model_id=model_id,
                name=str(row.get("name") or model_id),
                model_type=classify_model(model_id, row.get("type")),
                context_window=context,
            )
        )
    return models
