"""Numbers for people: ``{% load numbers %}`` then ``|money``, ``|thousands``, ``|ms``,
``|percent``. The same rules as ``static/portal/charts.js`` (Intl.NumberFormat).

- money: $0 for zero; under $1 two significant digits ($0.0042, $0.075, $0.50);
  under $1,000 cents ($12.40); from $1,000 whole dollars ($1,234);
- thousands: 1,234,567; ms: 1,234 ms (whole milliseconds), "—" when unknown;
- percent: one decimal under 10 % (2.5 %), whole above (12 %), "0 %" for zero.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django import template

from gateway.usage_export import money as usage_money

register = template.Library()
DASH = "—"


def _decimal(value: object) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


@register.filter
def money(value: object) -> str:
    """US dollars for people: the one rule, ``gateway.usage_export.money``."""
    return usage_money(_decimal(value))


@register.filter
def thousands(value: object) -> str:
    number = _decimal(value)
    if number is None:
        return DASH
    return f"{number.quantize(Decimal(1), ROUND_HALF_UP):,f}"


@register.filter
def ms(value: object) -> str:
    number = _decimal(value)
    if number is None:
        return DASH
    return f"{thousands(number)} ms"


@register.filter
def percent(value: object) -> str:
    """A fraction (0.025) as a percentage (2.5 %)."""
    number = _decimal(value)
    if number is None:
        return DASH
    pct = number * 100
    if pct == 0:
        return "0 %"
    if abs(pct) < 10:
        return f"{pct.quantize(Decimal('0.1'), ROUND_HALF_UP):f} %"
    return f"{pct.quantize(Decimal(1), ROUND_HALF_UP):f} %"
