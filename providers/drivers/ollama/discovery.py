"""Model listing: ``/api/tags`` and ``/api/show`` answers → ``ModelInfo`` (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from providers.drivers.config import ModelInfo
from providers.drivers.errors import DriverError
from providers.drivers.ollama.errors import VENDOR

_EMBEDDING_FAMILIES = frozenset({"bert", "nomic-bert", "xlm-roberta", "bge"})


def is_embedding_model(entry: Mapping[str, Any]) -> bool:
    name = str(entry.get("name") or entry.get("model") or "").lower()
    details = entry.get("details") or {}
    families = {str(details.get("family") or "").lower()}
    families.update(str(f).lower() for f in details.get("families") or [])
    return "embed" in name or bool(families & _EMBEDDING_FAMILIES)


def parse_models(body: Any) -> list[ModelInfo]:
    """``GET /api/tags`` -> ModelInfo list (type guessed by name/family)."""
    if not isinstance(body, dict) or not isinstance(body.get("models"), list):
        raise DriverError(f"{VENDOR} returned an unexpected model list.", status=502)
    out = []
    for entry in body["models"]:
        if not isinstance(entry, dict):
            continue
        model_id = str(entry.get("model") or entry.get("name") or "")
        if not model_id:
            continue
        out.append(
            ModelInfo(
                model_id=model_id,
                name=str(entry.get("name") or model_id),
                model_type="embedding" if is_embedding_model(entry) else "inference",
            )
        )
    return out


def parse_show(body: Any) -> tuple[int | None, list[str]]:
    """``POST /api/show`` -> (context window, capabilities)."""
    if not isinstance(body, dict):
        return None, []
    info = body.get("model_info") or {}
    window = None
    arch = info.get("general.architecture")
    keys = [f"{arch}.context_length"] if arch else []
    keys += [k for k in info if str(k).endswith(".context_length")]
    for key in keys:
        value = info.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            window = value
            break
    caps = [str(c) for c in body.get("capabilities") or []]
    return window, caps


def apply_show(model: ModelInfo, show: Any) -> ModelInfo:
    window, caps = parse_show(show)
    model_type = model.model_type
    if caps:
        model_type = (
            "embedding"
            if "embedding" in caps and "completion" not in caps
            else "inference"
        )
    return ModelInfo(
        model_id=model.model_id,
        name=model.name,
        model_type=model_type,
        context_window=window or model.context_window,
    )
