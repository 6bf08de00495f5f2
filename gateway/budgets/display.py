"""A budget's spend for people: money and a percentage with a small bar.

One markup for the admin's list, its form and the site's pages: a native
``<meter>`` (no inline style, which the CSP forbids), green below 80 %, amber
up to the limit, red at it; the figure beside it is the one the API returns.
"""

from __future__ import annotations

from decimal import Decimal

from django.utils.html import format_html
from django.utils.safestring import SafeString

from gateway.budgets.status import BudgetStatus
from gateway.usage_export import money

__all__ = ["level", "money", "percent_meter", "percent_text"]

WARN_AT = Decimal(80)


def level(percent: Decimal) -> str:
    """``ok``, ``warn`` (from 80 %) or ``over`` (at or past the limit)."""
    if percent >= 100:
        return "over"
    return "warn" if percent >= WARN_AT else "ok"


def percent_text(percent: Decimal) -> str:
    """ "42 %", "7.5 %" (one decimal below 10 %), "0 %"."""
    if percent == 0:
        return "0 %"
    if percent < 10:
        return f"{percent.quantize(Decimal('0.1'))} %"
    return f"{percent.quantize(Decimal(1)):,f} %"


def percent_meter(now: BudgetStatus) -> SafeString:
    shown = min(now.percent, Decimal(100))
    text = percent_text(now.percent)
    return format_html(
        '<span class="budget-used" data-level="{}">'
        '<meter min="0" max="100" low="80" high="99.99" optimum="0" value="{}" '
        'aria-label="{} of the limit spent">{}</meter>'
        '<span class="budget-pct">{}</span></span>',
        level(now.percent),
        f"{shown:f}",
        text,
        text,
        text,
    )
