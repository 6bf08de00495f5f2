"""The authoritative spend: sums of usage records' costs, per budget and period.

Redis's counters (``gateway.limits``) are a fast copy of these sums; they are
seeded from here when missing (a Redis restart, a new period) and corrected
from here every minute (``gateway.budgets.reconcile``), so a lost counter neither
resets a budget nor loses spend.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db.models import Q, Sum
from django.db.models.functions import TruncMinute
from django.utils import timezone

from gateway.budgets.applicable import BudgetRef, nanos


def usage_q(organization_id: int, scope: str, target: int | None) -> Q:
    """The usage records a budget counts: its organization's calls, narrowed."""
    q = Q(organization_id=organization_id)
    if scope == "user":
        q &= Q(user_id=target)
    elif scope == "key":
        q &= Q(api_key_id=target)
    elif scope == "model":
        q &= Q(model_id=target)
    elif scope == "provider":
        q &= Q(provider_id=target)
    return q


def spent(
    organization_id: int,
    scope: str,
    target: int | None,
    start: datetime,
    end: datetime | None = None,
) -> Decimal:
    """USD the budget's calls cost from ``start`` (to ``end``)."""
    from gateway.models import UsageRecord

    q = usage_q(organization_id, scope, target) & Q(created_at__gte=start)
    if end is not None:
        q &= Q(created_at__lt=end)
    total = UsageRecord.objects.filter(q).aggregate(total=Sum("cost"))["total"]
    return total or Decimal(0)


def minute(moment: datetime) -> int:
    """The minute a settlement or a record belongs to (minutes since the epoch)."""
    return int(moment.timestamp()) // 60


def watermark(now: datetime | None = None) -> datetime:
    """The minute before which the database holds every usage record for sure.

    Records reach the database within a flush interval of the call (journaled
    meanwhile); ``BUDGET_RECONCILE_LAG_SECONDS`` (90 s) of margin covers a slow
    writer.
    """
    now = now or timezone.now()
    lag = timedelta(seconds=float(settings.BUDGET_RECONCILE_LAG_SECONDS))
    floor = now - lag
    return floor.replace(second=0, microsecond=0)


def counter_seed(
    organization_id: int, ref: BudgetRef, start: datetime
) -> tuple[int, int, dict[str, int], int]:
    """(watermark minute, spend before it, spend per minute since, total), nanos.

    Sync: two queries. The per-minute part lets the next reconcile replace it
    with the database's figure once the minute is past the watermark.
    """
    from gateway.models import UsageRecord

    mark = max(watermark(), start)
    q = usage_q(organization_id, ref.scope, ref.target)
    base = nanos(spent(organization_id, ref.scope, ref.target, start, mark))
    rows = (
        UsageRecord.objects.filter(q, created_at__gte=mark)
        .annotate(m=TruncMinute("created_at"))
        .values("m")
        .annotate(s=Sum("cost"))
    )
    minutes = {f"m:{minute(r['m'])}": nanos(r["s"] or Decimal(0)) for r in rows}
    return minute(mark), base, minutes, base + sum(minutes.values())
