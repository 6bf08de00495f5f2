"""The budgets that apply to a call, from a per-organization cache.

An organization's active budgets are read once per ``GATEWAY_CACHE_TTL`` in
each process (like keys and routes, ``gateway.state``) and a change anywhere
reaches every replica within it; picking the ones a call meets is a scan of a
short tuple, no query.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from gateway.budgets import periods

NANO = Decimal(1_000_000_000)


def nanos(amount: Decimal) -> int:
    """USD as whole nano-dollars, the unit of every counter."""
    return int((amount * NANO).to_integral_value())


@dataclass
class BudgetRef:
    """A budget as the hot path needs it (immutable but for its period memo)."""

    pk: int
    organization_id: int
    scope: str
    target: int | None
    label: str
    amount: Decimal
    period: str
    starts_at: datetime
    # Part of the counter's name: an edited budget (another target, limit or
    # period, or reactivated) starts from the usage records, not a stale count.
    version: int = 0
    _bounds: tuple[datetime, datetime] | None = field(default=None, compare=False)

    @property
    def amount_nanos(self) -> int:
        return nanos(self.amount)

    def bounds(self, now: datetime) -> tuple[datetime, datetime]:
        """The current period's ``[start, end)``, computed once per period."""
        known = self._bounds
        if known is None or not known[0] <= now < known[1]:
            known = self._bounds = periods.bounds(self.period, now, self.starts_at)
        return known

    def counter_key(self, start: datetime) -> str:
        return (
            f"modelgate:budget:{self.pk}:{self.version}:{self.period}:"
            f"{int(start.timestamp())}"
        )

    def reservations_key(self) -> str:
        return f"modelgate:budget:{self.pk}:res"

    def applies(
        self, user_id: int | None, key_pk: int | None, model_pk: int, provider_pk: int
    ) -> bool:
        if self.scope == "organization":
            return True
        wanted = {
            "user": user_id,
            "key": key_pk,
            "model": model_pk,
            "provider": provider_pk,
        }.get(self.scope)
        return wanted is not None and wanted == self.target


def ref_of(budget: Any) -> BudgetRef:
    """A ``gateway.models.Budget`` as the hot path needs it (its relations loaded)."""
    return BudgetRef(
        pk=budget.pk,
        organization_id=budget.organization_id,
        scope=budget.scope,
        target=budget.target_id,
        label=budget.target_label(),
        amount=budget.amount,
        period=budget.period,
        starts_at=budget.starts_at,
        version=int(budget.updated_at.timestamp() * 1000),
    )


def load(organization_id: int) -> tuple[BudgetRef, ...]:
    """The organization's active budgets (sync: one query)."""
    from gateway.models import Budget

    rows = (
        Budget.objects.filter(organization_id=organization_id, is_active=True)
        .select_related("organization", "user", "api_key", "model", "provider")
        .order_by("pk")
    )
    return tuple(ref_of(b) for b in rows)


async def applying(
    organization_id: int,
    user_id: int | None,
    key_pk: int | None,
    model_pk: int,
    provider_pk: int,
) -> list[BudgetRef]:
    """The active budgets a call meets (cached per organization; no query warm)."""
    from gateway.db import run_db
    from gateway.state import state

    found: tuple[BudgetRef, ...] = await state().budgets.get_or_load(
        organization_id, lambda: run_db(load, organization_id)
    )
    if not found:
        return []
    return [b for b in found if b.applies(user_id, key_pk, model_pk, provider_pk)]
