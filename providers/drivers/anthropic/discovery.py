"""Model listing: ``/v1/models`` pages → ``ModelInfo`` (pure)."""

from __future__ import annotations

from typing import Any

from providers.drivers.config import ModelInfo
from providers.drivers.errors import DriverError

MODELS_PAGE_LIMIT = 1000


MAX_MODEL_PAGES = 100


def parse_models(data: Any) -> tuple[list[ModelInfo], str | None]:
    """One ``/v1/models`` page → (models, ``after_id`` for the next page or None)."""
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise DriverError("anthropic returned an unexpected models list", status=502)
    models = []
    for item in data["data"]:
        if not isinstance(item, dict) or not item.get("id"):
            continue
        window = item.get("max_input_tokens")
        models.append(
            ModelInfo(
                model_id=str(item["id"]),
                name=str(item.get("display_name") or item["id"]),
                model_type="inference",
                context_window=window if isinstance(window, int) else None,
            )
        )
    after = data.get("last_id") if data.get("has_more") else None
    return models, str(after) if after else None
