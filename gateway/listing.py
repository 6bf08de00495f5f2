"""The /v1/models listing for a principal: one entry per name it can call."""

from __future__ import annotations

from typing import Any

from models_catalog.visibility import Principal, visible_models


def list_models_for(principal: Principal) -> list[dict[str, Any]]:
    """Entries in OpenAI's Model shape (plus the private ``_names`` they answer to).

    A model is listed under its alias when it has one, else its model id; when
    several providers serve the same name it is listed once.
    """
    rows = (
        visible_models(principal)
        .select_related("provider", "organization")
        .order_by("provider__priority", "model_id")
    )
    entries: dict[str, dict[str, Any]] = {}
    for model in rows:
        name = model.alias or model.model_id
        names = [model.model_id, f"{model.provider.name}/{model.model_id}"]
        if model.alias:
            names.append(model.alias)
        entry = entries.get(name)
        if entry is None:
            entries[name] = {
                "id": name,
                "object": "model",
                "created": int(model.created_at.timestamp()),
                "owned_by": model.organization.slug,
                "_names": names,
            }
        else:
            entry["_names"] = sorted(set(entry["_names"]) | set(names))
    return sorted(entries.values(), key=lambda e: e["id"])
