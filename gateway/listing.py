"""The /v1/models listing for a principal: one entry per name it can call.

Each model is listed under the name to call it by: its alias when it has one,
else its model id (several providers serving one name give one entry). Where
two or more visible providers serve the same model id or name, each of their
models is also listed as ``<provider name>/<model id>``, the name that pins
one provider (``gateway.routing`` resolves exactly these names, so every
listed id is callable). Only visible models count, so another organization's
providers never show, not even as the reason for a pinned name.

Every entry says what the model does in ``model_type`` (``inference``,
``embedding`` or ``rerank``): a field of its own, since Anthropic's shape
already has ``type: "model"``, and one the SDKs ignore.
"""

from __future__ import annotations

from collections import defaultdict
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


def find(entries: list[dict[str, Any]], name: str) -> dict[str, Any] | None:
    """The entry listed as ``name``, else the first one that answers to it."""
    for entry in entries:
        if entry["id"] == name:
            return entry
    for entry in entries:
        if name in entry["_names"]:
            return entry
    return None


def public(entry: dict[str, Any]) -> dict[str, Any]:
    """An entry in OpenAI's Model shape, without the private ``_names``."""
    return {k: v for k, v in entry.items() if k != "_names"}


def list_models_for(principal: Principal) -> list[dict[str, Any]]:
    """Entries in OpenAI's Model shape plus ``model_type`` (and the private
    ``_names``: every name the entry's models answer to, for the allow-list)."""
    rows = list(
        visible_models(principal)
        .select_related("provider", "organization")
        .order_by("provider__priority", "provider__name", "model_id")
    )
    providers: defaultdict[str, set[int]] = defaultdict(set)
    for model in rows:
        providers[model.model_id].add(model.provider_id)
        if model.alias:
            providers[model.alias].add(model.provider_id)
    entries: dict[str, dict[str, Any]] = {}
    for model in rows:
        pinned = f"{model.provider.name}/{model.model_id}"
        names = [model.model_id, pinned]
        if model.alias:
            names.append(model.alias)
        listed = [model.alias or model.model_id]
        if len(providers[model.model_id]) > 1 or len(providers[listed[0]]) > 1:
            listed.append(pinned)
        for name in listed:
            entry = entries.get(name)
            if entry is None:
                entries[name] = {
                    "id": name,
                    "object": "model",
                    "created": int(model.created_at.timestamp()),
                    "owned_by": model.organization.slug,
                    "model_type": model.model_type,
                    "_names": names,
                }
            else:
                entry["_names"] = sorted(set(entry["_names"]) | set(names))
    return sorted(entries.values(), key=lambda e: e["id"])
