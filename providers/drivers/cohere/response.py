"""Cohere's v2 rerank answer → the canonical one (pure).

``{id, results: [{index, relevance_score}], meta: {billed_units:
{search_units}}}``: the billed search units are the call's usage.
"""

from __future__ import annotations

from typing import Any

from providers.drivers.cohere.errors import VENDOR
from providers.drivers.rerank import rerank_answer, rerank_result


def parse_rerank(data: Any, count: int) -> dict[str, Any]:
    if not isinstance(data, dict):
        data = {}
    meta = data.get("meta")
    billed = meta.get("billed_units") if isinstance(meta, dict) else None
    units = billed.get("search_units") if isinstance(billed, dict) else 0
    results = rerank_result(data.get("results"), count, VENDOR)
    return rerank_answer(results, search_units=units)
