"""The /v1/models listing for a principal: one entry per name it can call."""

from __future__ import annotations

from typing import Any

from gateway.auth import KeyInfo
from gateway.db import run_db
from gateway.state import state
from models_catalog.visibility import Principal, visible_models


async def models_for(key: KeyInfo) -> list[dict[str, Any]]:
    """The entries this key may call (its allow-list applied), cached per principal.

    Entries keep the private ``_names`` they answer to; ``public`` drops it.
    """
    listing: list[dict[str, Any]] = await state().listings.get_or_load(
        key.principal_key, lambda: run_db(list_models_for, key.principal)
    )
    if not key.allowed_models:
        return listing
    return [e for e in listing if set(e["_names"]) & key.allowed_models]


def public(entry: dict[str, Any]) -> dict[str, Any]:
    """An entry in OpenAI's Model shape, without the private ``_names``."""
    return {k: v for k, v in entry.items() if k != "_names"}


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
