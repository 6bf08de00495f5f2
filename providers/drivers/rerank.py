"""The canonical rerank shapes every vendor's rerank translation uses (pure).

A driver's ``rerank(request, model_id)`` gets the canonical request
``{"query": str, "documents": [str, ...], "top_n": int | None}`` (the gateway
has validated it and reduced every document to its text) and returns
``{"results": [{"index", "relevance_score"}, ...], "usage": {"search_units",
"total_tokens"}, "usage_estimated": bool}``: one result per document the vendor
scored, in any order (the gateway sorts, cuts to ``top_n`` and attaches the
documents). Usage is what the vendor reports: Cohere bills search units,
compatible servers count tokens; ``usage_estimated`` marks a count the driver
derived from the vendor's published billing rule because the answer has none.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from providers.drivers.errors import DriverError


def _count(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    return 0


def rerank_result(
    rows: Any, count: int, vendor: str, score_key: str = "relevance_score"
) -> list[dict[str, Any]]:
    """The vendor's scored rows as canonical results; a 502 for nonsense.

    ``rows`` is the vendor's list of ``{"index", score_key}``; ``count`` the
    number of documents sent (an index outside it, or twice, is the vendor's bug).
    """
    if not isinstance(rows, list):
        raise DriverError(f"{vendor} returned an unexpected rerank answer.")
    seen: set[int] = set()
    results = []
    for row in rows:
        index = row.get("index") if isinstance(row, dict) else None
        score = row.get(score_key) if isinstance(row, dict) else None
        if (
            not isinstance(index, int)
            or isinstance(index, bool)
            or not 0 <= index < count
            or index in seen
            or not isinstance(score, (int, float))
            or isinstance(score, bool)
        ):
            raise DriverError(f"{vendor} returned an unexpected rerank answer.")
        seen.add(index)
        results.append({"index": index, "relevance_score": float(score)})
    return results


def rerank_answer(
    results: list[dict[str, Any]],
    *,
    search_units: Any = 0,
    total_tokens: Any = 0,
    estimated: bool = False,
) -> dict[str, Any]:
    """The canonical answer; counts that are not positive ints are 0."""
    return {
        "results": results,
        "usage": {
            "search_units": _count(search_units),
            "total_tokens": _count(total_tokens),
        },
        "usage_estimated": estimated,
    }


def tokens_of(usage: Any) -> int:
    """``usage.total_tokens`` of a compatible server's answer, else 0."""
    return _count(usage.get("total_tokens")) if isinstance(usage, Mapping) else 0
