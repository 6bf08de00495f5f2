"""Budget threshold alerts: which thresholds a period's spend crossed, each once.

An alert is claimed by inserting its ``AlertSent`` row; the unique constraint
``alertsent_once`` (organization, kind, subject = the budget's id, period
start, threshold) makes the insert fail for every run but the first, on any
worker or replica. A new period has a new start, so it alerts again.

When one run finds several thresholds newly crossed (spend jumped from 40 %
to 120 %), every one is claimed but a single message names the highest: the
lower ones are implied by it and would only be noise. Their rows say so
(``webhook_status`` "superseded by N%").

Runs on the same budget are serialized by a row lock taken with SKIP LOCKED: a
run that finds the budget locked leaves it to the one holding it, so two
concurrent runs can never each claim a different threshold and send two
messages for one jump.
"""

from __future__ import annotations

import logging
from datetime import datetime
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone

from gateway.budgets import notify
from gateway.budgets.models import AlertSent, Budget
from gateway.budgets.status import BudgetStatus, status

logger = logging.getLogger(__name__)

THRESHOLD_TYPE = "budget.threshold"


def crossed(thresholds: list[int], spent: Decimal, amount: Decimal) -> list[int]:
    """The thresholds (percentages of ``amount``) ``spent`` has reached, ascending.

    Exact, not on the rounded percentage the pages show: 49.96 % is not 50 %.
    A zero limit counts as wholly spent by any spend.
    """
    if amount <= 0:
        return sorted(set(thresholds)) if spent > 0 else []
    return sorted({t for t in thresholds if spent * 100 >= t * amount})


def claim(budget: Budget, state: BudgetStatus, threshold: int) -> AlertSent | None:
    """Insert the threshold's row for this period; None when it exists already."""
    try:
        with transaction.atomic():
            return AlertSent.objects.create(
                organization_id=budget.organization_id,
                kind=AlertSent.Kind.THRESHOLD,
                budget=budget,
                subject=str(budget.pk),
                period_start=state.period_start,
                threshold=threshold,
                spend=state.spent,
            )
    except IntegrityError:
        return None  # sent already, by this run's predecessor or a sibling


def claim_crossed(
    budget_id: int, now: datetime | None = None
) -> tuple[AlertSent, BudgetStatus] | None:
    """Claim every newly crossed threshold of the budget; the one to announce.

    None when nothing is new (or another run holds the budget right now).
    """
    now = now or timezone.now()
    with transaction.atomic():
        budget = (
            Budget.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("organization")
            .filter(pk=budget_id, is_active=True)
            .first()
        )
        if budget is None or not budget.alert_thresholds:
            return None
        state = status(budget, now)
        claimed = [
            alert
            for threshold in crossed(budget.alert_thresholds, state.spent, state.amount)
            if (alert := claim(budget, state, threshold)) is not None
        ]
        if not claimed:
            return None
        highest = claimed[-1]
        if len(claimed) > 1:
            AlertSent.objects.filter(pk__in=[a.pk for a in claimed[:-1]]).update(
                webhook_status=f"superseded by {highest.threshold}%"
            )
        return highest, state


def message(budget: Budget, alert: AlertSent, state: BudgetStatus) -> notify.Message:
    target = budget.target_label()
    subject = (
        f"[Modelgate] {budget.organization.name}: {target} reached "
        f"{alert.threshold}% of its budget"
    )
    end = f" (until {state.period_end:%Y-%m-%d %H:%M} UTC)" if state.period_end else ""
    body = (
        f"The budget of {target} in {budget.organization.name} has reached "
        f"{alert.threshold}% of its limit.\n\n"
        f"Spent: {state.spent:.4f} USD of {budget.amount:.4f} USD "
        f"({state.percent}%)\n"
        f"Period: {state.period_label}{end}\n\n"
        "Calls that would take the spend past the limit are refused."
    )
    payload = {
        **notify.base_payload(budget.organization, alert),
        "type": THRESHOLD_TYPE,
        "budget": {
            "id": budget.pk,
            "scope": budget.scope,
            "target": target,
            "amount": str(budget.amount),
            "period": budget.period,
        },
        "threshold": alert.threshold,
        "spent": notify.money(state.spent),
        "percent": str(state.percent),
    }
    return notify.Message(subject, body, payload)


def check_budget(budget_id: int, now: datetime | None = None) -> int | None:
    """Alert the budget's newly crossed thresholds; the threshold announced."""
    claimed = claim_crossed(budget_id, now)
    if claimed is None:
        return None
    alert, state = claimed
    budget = Budget.objects.select_related(
        "organization", "user", "api_key", "model", "provider"
    ).get(pk=budget_id)
    notify.send(alert, message(budget, alert, state))
    logger.info(
        "budget %s reached %s%% in the period from %s",
        budget_id,
        alert.threshold,
        alert.period_start.isoformat(),
    )
    return alert.threshold
