"""Spend spikes: the last hour's spend against the trailing hourly average.

A spike is the last 60 minutes costing more than ``spike_factor`` times the
average hour of the 24 hours before them, and at least
``BUDGET_SPIKE_MIN_SPEND`` USD (so a quiet organization's first cent is no
spike). With no spend at all in the trailing day, any hour above the floor is
a spike: a runaway agent in a new organization is exactly the case.

The window slides with every check; the claim is per UTC clock hour
(``AlertSent`` kind ``spike``, ``period_start`` the hour), so one spike
alerts once an hour at most, however many checks see it. Sums come from the
usage records (one aggregate over the organization's time index): the hourly
rollups lag by up to their interval, too long for a one-hour window.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q, Sum
from django.utils import timezone

from accounts.models import Organization
from gateway.budgets import notify
from gateway.budgets.models import AlertSent

SPIKE_TYPE = "spend.spike"
TRAILING_HOURS = 24


@dataclass(frozen=True)
class Spend:
    last_hour: Decimal
    average: Decimal  # per hour over the trailing day

    def is_spike(self, factor: Decimal, floor: Decimal) -> bool:
        return self.last_hour >= floor and self.last_hour > factor * self.average


def hourly_spend(organization_id: int, now: datetime) -> Spend:
    from gateway.models import UsageRecord

    hour_ago = now - timedelta(hours=1)
    since = hour_ago - timedelta(hours=TRAILING_HOURS)
    sums = UsageRecord.objects.filter(
        organization_id=organization_id, created_at__gte=since, created_at__lt=now
    ).aggregate(
        last=Sum("cost", filter=Q(created_at__gte=hour_ago)),
        before=Sum("cost", filter=Q(created_at__lt=hour_ago)),
    )
    last = sums["last"] or Decimal(0)
    before = sums["before"] or Decimal(0)
    return Spend(last, before / TRAILING_HOURS)


def check_spike(organization_id: int, now: datetime | None = None) -> bool:
    """Alert a spike of the organization's spend, once per clock hour."""
    now = now or timezone.now()
    config = notify.alert_settings(organization_id)
    if not config.spike_alerts:
        return False
    spend = hourly_spend(organization_id, now)
    floor = Decimal(str(settings.BUDGET_SPIKE_MIN_SPEND))
    if not spend.is_spike(Decimal(config.spike_factor), floor):
        return False
    hour = now.replace(minute=0, second=0, microsecond=0)
    try:
        with transaction.atomic():
            alert = AlertSent.objects.create(
                organization_id=organization_id,
                kind=AlertSent.Kind.SPIKE,
                period_start=hour,
                spend=spend.last_hour,
            )
    except IntegrityError:
        return False
    organization = Organization.objects.get(pk=organization_id)
    notify.send(alert, message(organization, alert, spend, config.spike_factor))
    return True


def message(
    organization: Organization, alert: AlertSent, spend: Spend, factor: Decimal
) -> notify.Message:
    subject = f"[Modelgate] {organization.name}: unusual spend in the last hour"
    body = (
        f"{organization.name} spent {spend.last_hour:.4f} USD in the last hour, "
        f"against an average of {spend.average:.4f} USD per hour over the "
        f"{TRAILING_HOURS} hours before (alert at {factor}x).\n\n"
        "If this is not expected, check the usage page for the keys and models "
        "behind it, and consider a budget."
    )
    payload = {
        **notify.base_payload(organization, alert),
        "type": SPIKE_TYPE,
        "spent": notify.money(spend.last_hour),
        "hourly_average": notify.money(spend.average),
        "factor": str(factor),
    }
    return notify.Message(subject, body, payload)
