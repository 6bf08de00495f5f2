"""Celery tasks of the gateway: thin wrappers around domain functions."""

from __future__ import annotations

from celery import shared_task

from gateway import response_store, rollup, usage
from gateway.budgets import reconcile

# Autodiscovery imports gateway.tasks only: the spend alerts' tasks live with
# the budgets.
from gateway.budgets import tasks as budget_tasks  # noqa: F401


@shared_task(name="gateway.recover_usage_journals")
def recover_usage_journals() -> int:
    """Import usage journaled by gateway processes that died (periodic)."""
    return usage.recover_journals()


@shared_task(name="gateway.roll_up_usage")
def roll_up_usage() -> int:
    """Bring the hourly usage rollups up to date (periodic); hours recomputed."""
    run = rollup.roll_up()
    return run.hours + run.late_hours


@shared_task(name="gateway.expire_stored_responses")
def expire_stored_responses() -> int:
    """Delete stored responses past their retention (periodic); the count only."""
    return response_store.expire()


@shared_task(name="gateway.reconcile_budgets")
def reconcile_budgets() -> int:
    """Correct budget counters in Redis from the usage records (periodic)."""
    return reconcile.reconcile()
