"""Which budgets each page shows, with where they stand now (sync).

- an organization's admins: all its budgets (``of_organization``);
- a member: those that limit them: the organization's, their own (user
  scope) and their live keys' (``of_member``);
- a key list: each key's own budgets (``of_keys``).

Only active budgets: an inactive one limits nothing. One query for the
budgets, then one aggregate per budget (``status``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Q, QuerySet

from gateway.budgets.display import level, percent_text
from gateway.budgets.status import BudgetStatus, status
from gateway.models import Budget


@dataclass(frozen=True)
class Shown:
    """A budget and its current status, as a template reads them."""

    budget: Budget
    now: BudgetStatus

    @property
    def level(self) -> str:
        return level(self.now.percent)

    @property
    def percent_text(self) -> str:
        return percent_text(self.now.percent)

    @property
    def meter_value(self) -> str:
        return f"{min(self.now.percent, 100):f}"


def _active(organization_id: int) -> QuerySet[Budget]:
    return Budget.objects.filter(
        organization_id=organization_id, is_active=True
    ).select_related("organization", "user", "api_key", "model", "provider")


# Widest first: the organization's budget, then a person's, a key's, the
# provider's and a model's; within a kind by name, then the shortest period.
SCOPE_ORDER = {"organization": 0, "user": 1, "key": 2, "provider": 3, "model": 4}
PERIOD_ORDER = {"day": 0, "week": 1, "month": 2, "total": 3}


def _shown(budgets: Iterable[Budget]) -> list[Shown]:
    ordered = sorted(
        budgets,
        key=lambda b: (
            SCOPE_ORDER.get(b.scope, 9),
            b.target_label(),
            PERIOD_ORDER.get(b.period, 9),
            b.pk,
        ),
    )
    return [Shown(b, status(b)) for b in ordered]


def of_organization(organization_id: int) -> list[Shown]:
    return _shown(_active(organization_id))


def of_member(organization_id: int, user_id: int) -> list[Shown]:
    limits_them = (
        Q(scope=Budget.Scope.ORGANIZATION)
        | Q(scope=Budget.Scope.USER, user_id=user_id)
        | Q(
            scope=Budget.Scope.KEY,
            api_key__user_id=user_id,
            api_key__revoked_at__isnull=True,
        )
    )
    return _shown(_active(organization_id).filter(limits_them))


def of_keys(organization_id: int, key_ids: Iterable[int]) -> dict[int, list[Shown]]:
    """Each key's own budgets, by key id (keys without one are absent)."""
    found: dict[int, list[Shown]] = {}
    budgets = _active(organization_id).filter(
        scope=Budget.Scope.KEY, api_key_id__in=list(key_ids)
    )
    for item in _shown(budgets):
        assert item.budget.api_key_id is not None  # the key scope names one
        found.setdefault(item.budget.api_key_id, []).append(item)
    return found
