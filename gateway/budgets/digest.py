"""The daily spend digest (opt-in ``AlertSettings.daily_digest``).

Yesterday (the UTC day before the run) per organization: total spend and
calls, the top models, users and keys, and where each active budget stands.
The task runs every ``BUDGET_DIGEST_INTERVAL`` seconds (hourly by default) and
claims the day (``AlertSent`` kind ``digest``, ``period_start`` yesterday's
midnight), so the first run after midnight sends it, once, and a scheduler
that was down at midnight still sends it when it is back. A quiet day is sent
too: "nothing was spent" is news the admins asked for.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Count, Sum
from django.utils import timezone

from accounts.models import Organization
from gateway.budgets import notify
from gateway.budgets.models import AlertSent, AlertSettings, Budget
from gateway.budgets.status import statuses

DIGEST_TYPE = "spend.digest"
TOP = 5


@dataclass(frozen=True)
class Digest:
    day: datetime
    total: Decimal
    calls: int
    models: list[tuple[str, Decimal]]
    users: list[tuple[str, Decimal]]
    keys: list[tuple[str, Decimal]]
    budgets: list[dict[str, Any]]


def yesterday(now: datetime) -> datetime:
    midnight = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight - timedelta(days=1)


def _top(records: Any, field: str) -> list[tuple[str, Decimal]]:
    rows = (
        records.exclude(**{f"{field}__isnull": True})
        .values(field)
        .annotate(spent=Sum("cost"))
        .order_by("-spent", field)[:TOP]
    )
    return [(str(r[field]), r["spent"] or Decimal(0)) for r in rows]


def build(organization: Organization, day: datetime) -> Digest:
    from gateway.models import UsageRecord

    records = UsageRecord.objects.filter(
        organization=organization,
        created_at__gte=day,
        created_at__lt=day + timedelta(days=1),
    )
    sums = records.aggregate(total=Sum("cost"), calls=Count("pk"))
    budgets = list(
        Budget.objects.filter(organization=organization, is_active=True)
        .select_related("organization", "user", "api_key", "model", "provider")
        .order_by("scope", "pk")
    )
    return Digest(
        day=day,
        total=sums["total"] or Decimal(0),
        calls=sums["calls"] or 0,
        models=_top(records, "model_name"),
        users=_top(records, "user__username"),
        keys=_top(records, "api_key__name"),
        budgets=[
            {
                "id": b.pk,
                "target": b.target_label(),
                "amount": str(b.amount),
                "period": s.period_label,
                "spent": notify.money(s.spent),
                "percent": str(s.percent),
            }
            for b, s in zip(budgets, statuses(budgets), strict=True)
        ],
    )


def _lines(title: str, rows: list[tuple[str, Decimal]]) -> str:
    if not rows:
        return f"{title}: none\n"
    return f"{title}:\n" + "".join(f"  {n}: {v:.4f} USD\n" for n, v in rows)


def message(
    organization: Organization, alert: AlertSent, digest: Digest
) -> notify.Message:
    day = f"{digest.day:%Y-%m-%d}"
    budgets = "".join(
        f"  {b['target']}: {Decimal(b['spent']):.4f} of {b['amount']} USD "
        f"({b['percent']}%, {b['period']})\n"
        for b in digest.budgets
    )
    body = (
        f"Spend of {organization.name} on {day} (UTC): {digest.total:.4f} USD "
        f"in {digest.calls} calls.\n\n"
        + _lines("Top models", digest.models)
        + _lines("Top users", digest.users)
        + _lines("Top API keys", digest.keys)
        + ("Budgets now:\n" + budgets if budgets else "Budgets: none\n")
    )
    payload = {
        **notify.base_payload(organization, alert),
        "type": DIGEST_TYPE,
        "day": day,
        "spent": notify.money(digest.total),
        "calls": digest.calls,
        "top_models": [
            {"model": n, "spent": notify.money(v)} for n, v in digest.models
        ],
        "top_users": [{"user": n, "spent": notify.money(v)} for n, v in digest.users],
        "top_keys": [{"key": n, "spent": notify.money(v)} for n, v in digest.keys],
        "budgets": digest.budgets,
    }
    subject = f"[Modelgate] {organization.name}: spend on {day}"
    return notify.Message(subject, body, payload)


def send_digest(organization_id: int, now: datetime | None = None) -> bool:
    """Send the organization's digest of yesterday unless it was sent."""
    day = yesterday(now or timezone.now())
    wants = AlertSettings.objects.filter(
        organization_id=organization_id, daily_digest=True
    ).exists()
    organization = Organization.objects.filter(pk=organization_id).first()
    if not wants or organization is None:
        return False
    if AlertSent.objects.filter(
        organization=organization, kind=AlertSent.Kind.DIGEST, period_start=day
    ).exists():
        return False  # the hourly runs after the first one
    digest = build(organization, day)
    try:
        with transaction.atomic():
            alert = AlertSent.objects.create(
                organization=organization,
                kind=AlertSent.Kind.DIGEST,
                period_start=day,
                spend=digest.total,
            )
    except IntegrityError:
        return False
    notify.send(alert, message(organization, alert, digest))
    return True
