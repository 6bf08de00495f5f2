"""What the home pages show, assembled from ``gateway.reports`` (no queries of its own
beyond the ones named): chart data for ``static/portal/charts.js`` and the range."""

from __future__ import annotations

from typing import Any

from gateway.budgets import shown
from gateway.models import ApiKey
from gateway.reports import DEFAULT_RANGE, RANGES, Point, ReportRange


def chosen_range(value: str | None) -> tuple[ReportRange, str]:
    """The range a ``?range=`` asks for, and an error when it is not one we offer."""
    if value is None or value == "":
        return RANGES[DEFAULT_RANGE], ""
    if value in RANGES:
        return RANGES[value], ""
    choices = ", ".join(RANGES)
    return RANGES[DEFAULT_RANGE], (
        f"Unknown range; choose one of {choices}. Showing "
        f"{RANGES[DEFAULT_RANGE].label.lower()}."
    )


def chart_data(points: list[Point], unit: str) -> dict[str, Any]:
    """A series as plain lists for ``json_script`` (UTC ISO times, floats)."""
    return {
        "unit": unit,
        "labels": [p.start.isoformat() for p in points],
        "requests": [p.requests for p in points],
        "errors": [p.errors for p in points],
        "successes": [p.requests - p.errors for p in points],
        "tokens": [p.tokens for p in points],
        "cost": [float(p.cost) for p in points],
        "p50": [_rounded(p.p50_ms) for p in points],
        "p95": [_rounded(p.p95_ms) for p in points],
    }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def with_budgets(organization_id: int, keys: list[ApiKey]) -> list[ApiKey]:
    """``keys``, each with ``shown_budgets``: its own active budgets and their spend
    (``gateway.budgets.shown.of_keys``), which the key lists show."""
    found = shown.of_keys(organization_id, [k.pk for k in keys])
    for key in keys:
        key.shown_budgets = found.get(key.pk, [])  # type: ignore[attr-defined]  # read by the templates
    return keys
