"""Sending one claimed alert: email to the organization's admins, and its webhook.

Callers claim the alert first (an ``AlertSent`` row; see ``alerts``), then
call ``send`` once the claim is committed: the email goes now, the webhook is
a task of its own (``budgets.deliver_webhook``) with retries, which reads the
secret from the database itself, so no secret is ever a task argument, a
result or a log line.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.mail import send_mail

from accounts.models import Membership, Organization
from gateway.budgets.models import AlertSent, AlertSettings
from providers.tasks import enqueue

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Message:
    """One alert as people read it (email) and as machines do (webhook)."""

    subject: str
    body: str
    payload: dict[str, Any]


def money(value: Decimal) -> str:
    """USD in payloads: six decimals, whatever the database's sum looked like."""
    return str(Decimal(value).quantize(Decimal("0.000001")))


def alert_settings(organization_id: int) -> AlertSettings:
    """The organization's settings, or the defaults (unsaved) when it has none."""
    found = AlertSettings.objects.filter(organization_id=organization_id).first()
    return found or AlertSettings(organization_id=organization_id)


def admin_emails(organization_id: int) -> list[str]:
    return sorted(
        set(
            Membership.objects.filter(
                organization_id=organization_id,
                role=Membership.Role.ADMIN,
                user__is_active=True,
            )
            .exclude(user__email="")
            .values_list("user__email", flat=True)
        )
    )


def base_payload(organization: Organization, alert: AlertSent) -> dict[str, Any]:
    return {
        "organization": organization.slug,
        "sent_at": alert.sent_at.isoformat(),
        "period_start": alert.period_start.isoformat(),
    }


def send(alert: AlertSent, message: Message) -> None:
    """Email the admins (when enabled) and queue the webhook (when set).

    An email failure is logged and not retried: the alert is claimed, and a
    mail server that is down should not turn one alert into a stream.
    """
    config = alert_settings(alert.organization_id)
    if config.email_admins:
        recipients = admin_emails(alert.organization_id)
        if recipients:
            try:
                send_mail(
                    message.subject,
                    message.body,
                    settings.DEFAULT_FROM_EMAIL,
                    recipients,
                )
            except Exception as exc:  # an SMTP or backend failure, logged once
                logger.warning(
                    "alert %s: email to the admins failed: %s", alert.pk, exc
                )
    if config.pk is not None and config.webhook_url:
        # By name: the tasks module calls this one.
        enqueue("budgets.deliver_webhook", alert.pk, message.payload)
