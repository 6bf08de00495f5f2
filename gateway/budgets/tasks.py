"""Celery tasks of spend alerts: thin wrappers that take ids.

``check_alerts`` (every ``BUDGET_ALERT_INTERVAL`` s) and ``send_digests``
(every ``BUDGET_DIGEST_INTERVAL`` s) fan out one task per organization and
never wait on them. ``deliver_webhook`` retries a transient failure (a
connection error, a timeout, 429 or 5xx) with exponential backoff:
``BUDGET_WEBHOOK_RETRY_BACKOFF`` seconds, doubling, at most
``BUDGET_WEBHOOK_MAX_RETRIES`` times; each attempt's outcome is kept in
``AlertSent.webhook_status``. Imported by ``gateway.tasks`` so the worker
registers them.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from celery import Task, shared_task
from django.conf import settings
from django.utils import timezone

from gateway.budgets import alerts, digest, spikes, webhooks
from gateway.budgets.models import AlertSent, AlertSettings, Budget

logger = logging.getLogger(__name__)


@shared_task(name="budgets.check_alerts")
def check_alerts() -> int:
    """Queue one check per organization with an active budget or recent spend."""
    from gateway.models import UsageRecord

    since = timezone.now() - timedelta(hours=1)
    # order_by(): the models' default orderings would defeat DISTINCT.
    ids = set(
        Budget.objects.filter(is_active=True)
        .order_by()
        .values_list("organization_id", flat=True)
        .distinct()
    ) | set(
        UsageRecord.objects.filter(created_at__gte=since)
        .order_by()
        .values_list("organization_id", flat=True)
        .distinct()
    )
    expires = settings.BUDGET_ALERT_INTERVAL
    for organization_id in sorted(ids):
        check_organization_alerts.apply_async((organization_id,), expires=expires)
    return len(ids)


@shared_task(name="budgets.check_organization_alerts")
def check_organization_alerts(organization_id: int) -> int:
    """The organization's budget thresholds, then its spike; alerts sent."""
    budget_ids = Budget.objects.filter(
        organization_id=organization_id, is_active=True
    ).values_list("pk", flat=True)
    sent = sum(alerts.check_budget(pk) is not None for pk in budget_ids)
    return sent + spikes.check_spike(organization_id)


@shared_task(name="budgets.send_digests")
def send_digests() -> int:
    """Queue one digest per organization that asked for it."""
    ids = list(
        AlertSettings.objects.filter(daily_digest=True).values_list(
            "organization_id", flat=True
        )
    )
    for organization_id in ids:
        send_digest.apply_async((organization_id,), expires=3600)
    return len(ids)


@shared_task(name="budgets.send_digest")
def send_digest(organization_id: int) -> bool:
    return digest.send_digest(organization_id)


def _record(alert_id: int, outcome: str) -> None:
    AlertSent.objects.filter(pk=alert_id).update(webhook_status=outcome[:64])


@shared_task(
    bind=True,
    name="budgets.deliver_webhook",
    autoretry_for=(webhooks.TransientWebhookError,),
    throws=(webhooks.TransientWebhookError,),
    retry_backoff=settings.BUDGET_WEBHOOK_RETRY_BACKOFF,
    retry_backoff_max=settings.BUDGET_WEBHOOK_RETRY_BACKOFF * 64,
    retry_jitter=False,
    max_retries=settings.BUDGET_WEBHOOK_MAX_RETRIES,
)
def deliver_webhook(
    self: Task[Any, Any], alert_id: int, payload: dict[str, Any]
) -> str:
    """POST one alert to its organization's webhook; the outcome recorded.

    The URL and the secret are read now, not passed in: a task's arguments sit
    in the broker, and an edited URL or a rotated secret applies to retries.
    """
    alert = AlertSent.objects.filter(pk=alert_id).first()
    if alert is None:
        logger.info("alert %s is gone; no webhook", alert_id)
        return "gone"
    config = AlertSettings.objects.filter(organization_id=alert.organization_id).first()
    if config is None or not config.webhook_url:
        _record(alert_id, "no webhook")
        return "no webhook"
    secret = config.reveal("webhook_secret")
    if not secret:
        _record(alert_id, "no secret")
        return "no secret"
    attempt = self.request.retries + 1
    try:
        status = webhooks.deliver(config.webhook_url, str(secret), payload)
    except webhooks.WebhookError as err:
        final = not err.transient or self.request.retries >= (self.max_retries or 0)
        outcome = f"attempt {attempt}{'' if final else ', retrying'}: {err.message}"
        _record(alert_id, outcome)
        logger.warning("alert %s webhook: %s", alert_id, outcome)
        if err.transient:
            raise
        return outcome
    outcome = f"attempt {attempt}: HTTP {status}"
    _record(alert_id, outcome)
    return outcome
