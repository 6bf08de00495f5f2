"""Budgets, where an organization's spend alerts go, and which alerts were sent.

Imported by ``gateway.models`` so Django finds them in the gateway app.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.utils import timezone

from gateway.budgets import periods
from providers.fields import EncryptedFieldsMixin, EncryptedJSONField

DEFAULT_THRESHOLDS = [50, 80, 100]


def default_thresholds() -> list[int]:
    return list(DEFAULT_THRESHOLDS)


def validate_thresholds(value: object) -> None:
    if not isinstance(value, list) or not all(
        isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 1000 for v in value
    ):
        raise ValidationError(
            "Enter a list of whole percentages between 1 and 1000, e.g. [50, 80, 100]."
        )
    if len(value) > 10:
        raise ValidationError("At most 10 thresholds.")


class Budget(models.Model):
    """A spending limit in USD per period, within one organization.

    ``scope`` says what it limits: the organization's whole spend, one user's
    calls in it, one key's, or the organization's calls to one model or one
    provider (shared ones included: it is the organization's spend on them).
    Every budget that applies to a call is checked before the call, its
    estimated cost reserved, and the reservation settled to the real cost.
    """

    class Scope(models.TextChoices):
        ORGANIZATION = "organization", "Organization"
        USER = "user", "User"
        KEY = "key", "API key"
        MODEL = "model", "Model"
        PROVIDER = "provider", "Provider"

    # The budget's public id: the management API addresses budgets by it.
    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.CASCADE, related_name="budgets"
    )
    scope = models.CharField(max_length=16, choices=Scope.choices)
    user = models.ForeignKey(
        "accounts.User",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="budgets",
    )
    api_key = models.ForeignKey(
        "gateway.ApiKey",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="budgets",
        verbose_name="API key",
    )
    model = models.ForeignKey(
        "models_catalog.AIModel",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="budgets",
    )
    provider = models.ForeignKey(
        "providers.Provider",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="budgets",
    )
    amount = models.DecimalField(
        "limit (USD)",
        max_digits=14,
        decimal_places=4,
        validators=[MinValueValidator(Decimal(0))],
        help_text="Calls that would take the period's spend past this are refused.",
    )
    period = models.CharField(
        max_length=8, choices=periods.CHOICES, default=periods.MONTH
    )
    starts_at = models.DateTimeField(
        default=timezone.now,
        help_text="A total budget counts spend from this moment; calendar periods "
        "(UTC) ignore it.",
    )
    alert_thresholds = models.JSONField(
        default=default_thresholds,
        blank=True,
        validators=[validate_thresholds],
        help_text="Percentages of the limit at which the organization's admins are "
        "told, once each per period.",
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["organization__name", "scope", "pk"]
        indexes = [models.Index(fields=["organization", "is_active"])]
        constraints = [
            models.CheckConstraint(
                name="budget_target_matches_scope",
                condition=(
                    models.Q(
                        scope="organization",
                        user__isnull=True,
                        api_key__isnull=True,
                        model__isnull=True,
                        provider__isnull=True,
                    )
                    | models.Q(
                        scope="user",
                        user__isnull=False,
                        api_key__isnull=True,
                        model__isnull=True,
                        provider__isnull=True,
                    )
                    | models.Q(
                        scope="key",
                        user__isnull=True,
                        api_key__isnull=False,
                        model__isnull=True,
                        provider__isnull=True,
                    )
                    | models.Q(
                        scope="model",
                        user__isnull=True,
                        api_key__isnull=True,
                        model__isnull=False,
                        provider__isnull=True,
                    )
                    | models.Q(
                        scope="provider",
                        user__isnull=True,
                        api_key__isnull=True,
                        model__isnull=True,
                        provider__isnull=False,
                    )
                ),
            )
        ]

    def __str__(self) -> str:
        return f"{self.target_label()}: {self.amount} USD per {self.period}"

    @property
    def target_id(self) -> int | None:
        """The user's, key's, model's or provider's id (None for the organization)."""
        return self.user_id or self.api_key_id or self.model_id or self.provider_id

    def target_label(self) -> str:
        """What the budget limits, as the 429 and the pages name it."""
        if self.scope == self.Scope.USER:
            return f"user {self.user}"
        if self.scope == self.Scope.KEY:
            return f"API key {self.api_key.name if self.api_key else ''}"
        if self.scope == self.Scope.MODEL:
            return f"model {self.model.model_id if self.model else ''}"
        if self.scope == self.Scope.PROVIDER:
            return f"provider {self.provider.name if self.provider else ''}"
        return f"organization {self.organization.name}"

    def current_period(self) -> tuple[object, object]:
        return periods.bounds(self.period, timezone.now(), self.starts_at)


class AlertSettings(EncryptedFieldsMixin, models.Model):
    """Where an organization's spend alerts go besides its admins' email."""

    organization = models.OneToOneField(
        "accounts.Organization",
        on_delete=models.CASCADE,
        related_name="alert_settings",
    )
    email_admins = models.BooleanField(
        default=True, help_text="Email alerts to the organization's admins."
    )
    webhook_url = models.URLField(
        blank=True,
        max_length=500,
        help_text="Alerts are POSTed here as JSON, signed with the webhook secret "
        "(header X-Modelgate-Signature).",
    )
    webhook_secret = EncryptedJSONField(blank=True, editable=False)
    daily_digest = models.BooleanField(
        default=False, help_text="Email a digest of yesterday's spend every day."
    )
    spike_alerts = models.BooleanField(
        default=True,
        help_text="Alert when the last hour's spend is several times the trailing "
        "average.",
    )
    spike_factor = models.DecimalField(
        max_digits=6,
        decimal_places=2,
        default=Decimal(5),
        validators=[MinValueValidator(Decimal("1.5"))],
        help_text="How many times the trailing hourly average counts as a spike.",
    )

    class Meta:
        verbose_name = "alert settings"
        verbose_name_plural = "alert settings"

    def __str__(self) -> str:
        return f"Alerts of {self.organization}"


class AlertSent(models.Model):
    """One alert sent (or being sent): unique per budget, period and threshold.

    Inserting the row is what claims the alert, so every worker and replica
    sends each one once. ``kind`` is ``threshold``, ``spike`` or ``digest``;
    a spike or digest has no budget and its ``period_start`` is its hour or day.
    """

    class Kind(models.TextChoices):
        THRESHOLD = "threshold", "Budget threshold"
        SPIKE = "spike", "Spend spike"
        DIGEST = "digest", "Daily digest"

    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.CASCADE, related_name="alerts_sent"
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    budget = models.ForeignKey(
        Budget,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="alerts_sent",
    )
    # The budget's id as text, or "" for a spike or digest: part of the unique
    # key (a NULL budget would not be, on SQLite).
    subject = models.CharField(max_length=32, default="", blank=True)
    period_start = models.DateTimeField()
    threshold = models.PositiveIntegerField(default=0)
    spend = models.DecimalField(max_digits=24, decimal_places=10, default=0)
    sent_at = models.DateTimeField(default=timezone.now)
    webhook_status = models.CharField(max_length=64, blank=True)

    class Meta:
        verbose_name = "alert sent"
        verbose_name_plural = "alerts sent"
        ordering = ["-sent_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "kind", "subject", "period_start", "threshold"],
                name="alertsent_once",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.threshold}% ({self.sent_at:%Y-%m-%d})"
