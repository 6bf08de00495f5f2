"""Where a budget stands: its period's spend from the usage records (sync).

What the pages, the management API and the alerts show and act on. The
database is the authoritative spend (calls of the last second or so may not be
written yet: ``gateway.usage`` flushes in batches).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.utils import timezone

from gateway.budgets import periods
from gateway.budgets.spend import spent


@dataclass(frozen=True)
class BudgetStatus:
    budget_id: int
    spent: Decimal
    amount: Decimal
    period_start: datetime
    period_end: datetime | None
    period_label: str

    @property
    def percent(self) -> Decimal:
        """Spend as a percentage of the limit (100 for a zero limit once spent)."""
        if self.amount <= 0:
            return Decimal(100) if self.spent > 0 else Decimal(0)
        return (self.spent * 100 / self.amount).quantize(Decimal("0.1"))

    @property
    def remaining(self) -> Decimal:
        return max(Decimal(0), self.amount - self.spent)


def status(budget: object, now: datetime | None = None) -> BudgetStatus:
    """``budget`` (a ``gateway.models.Budget``) in its current period."""
    from gateway.models import Budget

    assert isinstance(budget, Budget)
    now = now or timezone.now()
    start, end = periods.bounds(budget.period, now, budget.starts_at)
    return BudgetStatus(
        budget_id=budget.pk,
        spent=spent(budget.organization_id, budget.scope, budget.target_id, start, end),
        amount=budget.amount,
        period_start=start,
        period_end=None if end == periods.FOREVER else end,
        period_label=periods.label(budget.period, start),
    )


def statuses(budgets: Iterable[object]) -> list[BudgetStatus]:
    """Each budget's status (one aggregate query per budget)."""
    now = timezone.now()
    return [status(b, now) for b in budgets]
