"""Model listing: ``GET /models`` pages → ``ModelInfo`` (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from providers.drivers.config import ModelInfo


def parse_models_page(data: Mapping[str, Any]) -> tuple[list[ModelInfo], str | None]:
    """(models, next page token) from one ``GET /models`` page.

    Models that neither generate content nor embed (Imagen, Veo, AQA) are skipped.
    """
    found = []
    for item in data.get("models") or []:
        name = str(item.get("name") or "")
        model_id = name.removeprefix("models/")
        methods = set(item.get("supportedGenerationMethods") or [])
        chat = bool(methods & {"generateContent", "streamGenerateContent"})
        embeds = bool(methods & {"embedContent", "batchEmbedContents", "embedText"})
        if not model_id or (methods and not chat and not embeds):
            continue
        limit = item.get("inputTokenLimit")
        found.append(
            ModelInfo(
                model_id=model_id,
                name=str(item.get("displayName") or model_id),
                model_type="embedding" if embeds and not chat else "inference",
                context_window=int(limit) if isinstance(limit, int) else None,
            )
        )
    return found, data.get("nextPageToken") or None
