"""Azure OpenAI deployments listing → ``ModelInfo`` (pure)."""

from __future__ import annotations

from typing import Any

from providers.drivers.config import ModelInfo
from providers.drivers.openai.discovery import classify_model


def parse_deployments(data: Any) -> list[ModelInfo]:
    """``GET /openai/deployments`` → one ModelInfo per usable deployment."""
    rows = data.get("data") if isinstance(data, dict) else None
    models = []
    for row in rows if isinstance(rows, list) else ():
        if not isinstance(row, dict) or not row.get("id"):
            continue
        if row.get("status") not in (None, "succeeded"):
            continue
        base_model = str(row.get("model") or "")
        models.append(
            ModelInfo(
                model_id=str(row["id"]),
                name=base_model,
                model_type=classify_model(base_model or str(row["id"])),
            )
        )
    return models
