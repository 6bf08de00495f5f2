"""Budget counters in Redis corrected from the usage records (periodic, sync).

The counters drift from the authoritative spend in a few known ways: a call
settled while Redis had lost the counter (skipped; the rebuild counted it or
not, depending on when its record was written), a replica killed between the
call and its settlement, calls admitted while Redis was unreachable and limits
failed open. Every ``BUDGET_RECONCILE_INTERVAL`` seconds this replaces, in
each counter, everything before the watermark (``spend.watermark``: the
database surely holds those records) by the database's sum, and keeps the
minutes since as settled. A counter Redis does not hold is left to the next
call, which seeds it (``gateway.limits``).
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.utils import timezone

from gateway.budgets import spend
from gateway.budgets.applicable import nanos, ref_of
from gateway.limits_lua import RECONCILE

logger = logging.getLogger(__name__)


def reconcile() -> int:
    """Correct every active budget's counter; returns how many were corrected."""
    if not settings.REDIS_URL:
        return 0
    import redis

    from gateway.models import Budget

    client = redis.Redis.from_url(
        settings.REDIS_URL, socket_timeout=5, socket_connect_timeout=5
    )
    try:
        script = client.register_script(RECONCILE)
        now = timezone.now()
        mark = spend.watermark(now)
        corrected = 0
        budgets = Budget.objects.filter(is_active=True).select_related(
            "organization", "user", "api_key", "model", "provider"
        )
        for budget in budgets.iterator():
            ref = ref_of(budget)
            start, _ = ref.bounds(now)
            upto = max(mark, start)
            base = spend.spent(ref.organization_id, ref.scope, ref.target, start, upto)
            result = script(
                keys=[ref.counter_key(start)],
                args=[spend.minute(upto), str(nanos(base))],
            )
            corrected += int(result) == 1
        return corrected
    finally:
        client.close()
