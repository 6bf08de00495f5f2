"""A budget's periods: when the current one started and when it ends (pure).

Periods are calendar periods in UTC, so every replica and the database agree
on them without a clock of their own: a day starts at 00:00, a week on
Monday, a month on its first day. A ``total`` budget has one period, from the
budget's ``starts_at`` on, which never ends.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

DAY = "day"
WEEK = "week"
MONTH = "month"
TOTAL = "total"
CHOICES = [(DAY, "Day"), (WEEK, "Week"), (MONTH, "Month"), (TOTAL, "Total (no reset)")]
# Far enough for "never ends", near enough for any datetime arithmetic.
FOREVER = datetime(9999, 1, 1, tzinfo=UTC)


def bounds(period: str, at: datetime, starts_at: datetime) -> tuple[datetime, datetime]:
    """The ``[start, end)`` of the period containing ``at`` (aware datetimes)."""
    at = at.astimezone(UTC)
    if period == TOTAL:
        return starts_at.astimezone(UTC), FOREVER
    midnight = at.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == DAY:
        return midnight, midnight + timedelta(days=1)
    if period == WEEK:
        start = midnight - timedelta(days=midnight.weekday())
        return start, start + timedelta(days=7)
    if period == MONTH:
        start = midnight.replace(day=1)
        following = (start + timedelta(days=32)).replace(day=1)
        return start, following
    raise ValueError(f"unknown budget period {period!r}")


def label(period: str, start: datetime) -> str:
    """How a period is named to people: "2026-11-27", "week of 2026-11-23"."""
    if period == DAY:
        return start.strftime("%Y-%m-%d")
    if period == WEEK:
        return f"week of {start:%Y-%m-%d}"
    if period == MONTH:
        return start.strftime("%B %Y")
    return f"since {start:%Y-%m-%d}"
