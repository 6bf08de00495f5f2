"""Gateway data: API keys (hashed secrets) and usage records."""

from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone


class ApiKey(models.Model):
    """A gateway key: acts for a user, or with no user for its organization."""

    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.CASCADE, related_name="api_keys"
    )
    user = models.ForeignKey(
        "accounts.User",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="api_keys",
        help_text="The user the key acts for; empty for an organization service key.",
    )
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, editable=False)
    secret_hash = models.CharField(max_length=64, unique=True, editable=False)
    allowed_models = models.JSONField(
        default=list,
        blank=True,
        help_text="Model names this key may call; empty allows every visible model.",
    )
    requests_per_minute = models.PositiveIntegerField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_by = models.ForeignKey(
        "accounts.User",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="api_keys_created",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = "API key"
        ordering = ["organization__name", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "name"], name="apikey_unique_name_per_org"
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    @property
    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()

    @property
    def is_usable(self) -> bool:
        return not self.is_revoked and not self.is_expired


class UsageRecord(models.Model):
    """One gateway call: who, which model, tokens, cost, latency and outcome."""

    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.CASCADE, related_name="usage"
    )
    user = models.ForeignKey(
        "accounts.User",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="usage",
    )
    api_key = models.ForeignKey(
        "gateway.ApiKey",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="usage",
    )
    provider = models.ForeignKey(
        "providers.Provider",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="usage",
    )
    model = models.ForeignKey(
        "models_catalog.AIModel",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="usage",
    )
    endpoint = models.CharField(max_length=32)
    model_name = models.CharField(max_length=255, help_text="As the caller sent it.")
    stream = models.BooleanField(default=False)
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    cost = models.DecimalField(max_digits=18, decimal_places=10, default=0)
    latency_ms = models.PositiveIntegerField(default=0)
    ttfb_ms = models.PositiveIntegerField(null=True, blank=True)
    status_code = models.PositiveSmallIntegerField()
    error_type = models.CharField(max_length=64, blank=True)
    usage_estimated = models.BooleanField(
        default=False,
        help_text="The vendor reported no token counts; the gateway estimated them.",
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    # Set when the call is recorded; a replayed journal line with a stored
    # UUID is skipped (null only for records older than the journal).
    uuid = models.UUIDField(default=uuid.uuid4, null=True, editable=False)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(
                fields=["organization", "-created_at"], name="usage_org_time_idx"
            )
        ]
        constraints = [
            models.UniqueConstraint(fields=["uuid"], name="usage_unique_uuid")
        ]

    def __str__(self) -> str:
        return (
            f"{self.model_name} {self.status_code} @ {self.created_at:%Y-%m-%d %H:%M}"
        )
