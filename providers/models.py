"""Provider: one upstream LLM service an organization has registered."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import models

from providers import catalog, starter
from providers.crypto import CryptoError
from providers.drivers.config import DriverConfig, Timeouts
from providers.fields import EncryptedFieldsMixin, EncryptedJSONField


class Provider(EncryptedFieldsMixin, models.Model):
    """An upstream endpoint with its auth method and encrypted credentials."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        INACTIVE = "inactive", "Inactive"

    class Health(models.TextChoices):
        UNKNOWN = "unknown", "Unknown"
        AVAILABLE = "available", "Available"
        UNAVAILABLE = "unavailable", "Unavailable"
        FAILED = "failed", "Failed"

    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.CASCADE, related_name="providers"
    )
    owner = models.ForeignKey(
        "accounts.User",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="owned_providers",
    )
    name = models.SlugField(
        max_length=100,
        help_text="Unique in the organization; agents may pin it as "
        "provider-name/model-id.",
    )
    provider_type = models.CharField(
        "type", max_length=32, choices=catalog.TYPE_CHOICES
    )
    endpoint = models.CharField(
        max_length=500,
        blank=True,
        help_text="Base URL. Leave empty for the type's default endpoint.",
    )
    auth_method = models.CharField(
        max_length=32, choices=catalog.AUTH_METHOD_CHOICES, blank=True
    )
    credentials = EncryptedJSONField()
    provider_config = EncryptedJSONField()
    instance_wide = models.BooleanField(
        default=False, help_text="Every user of this instance may use its models."
    )
    starter = models.BooleanField(
        "starter (platform key)",
        default=False,
        editable=False,
        help_text="Calls OpenAI with the platform's starter key, read from the "
        "operator's settings at call time; its endpoint and credentials are not "
        "the organization's to set.",
    )
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.ACTIVE
    )
    priority = models.IntegerField(
        default=100,
        help_text="Lower is tried first when several providers serve one model name.",
    )
    requests_per_minute = models.PositiveIntegerField(
        null=True, blank=True, help_text="Optional cap across all keys."
    )
    tokens_per_minute = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Optional cap on input + output tokens per minute across all keys.",
    )
    timeout_connect = models.FloatField(default=5.0, help_text="Seconds.")
    timeout_first_byte = models.FloatField(default=60.0, help_text="Seconds.")
    timeout_total = models.FloatField(default=600.0, help_text="Seconds.")

    activate_discovered = models.BooleanField(
        "activate discovered models",
        default=False,
        help_text="Models found by discovery start active; otherwise they wait, "
        "inactive, until an admin approves them.",
    )

    health = models.CharField(
        max_length=16, choices=Health.choices, default=Health.UNKNOWN
    )
    health_message = models.TextField(blank=True)
    health_checked_at = models.DateTimeField(null=True, blank=True)
    health_latency_ms = models.PositiveIntegerField(null=True, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["organization__name", "priority", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "name"], name="provider_unique_name_per_org"
            ),
            models.UniqueConstraint(
                fields=["organization"],
                condition=models.Q(starter=True),
                name="provider_one_starter_per_org",
            ),
            models.CheckConstraint(
                condition=models.Q(timeout_connect__gt=0)
                & models.Q(timeout_first_byte__gt=0)
                & models.Q(timeout_total__gt=0),
                name="provider_timeouts_positive",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def get_config(self) -> dict[str, Any]:
        value = self.reveal("provider_config", default={})
        return value if isinstance(value, dict) else {}

    def get_credentials(self) -> dict[str, Any]:
        value = self.reveal("credentials", default={})
        return value if isinstance(value, dict) else {}

    @property
    def effective_auth_method(self) -> str:
        return self.auth_method or catalog.default_auth_method(self.provider_type)

    @property
    def base_url(self) -> str:
        return catalog.effective_endpoint(
            self.provider_type, self.endpoint, self.get_config()
        )

    def driver_config(self) -> DriverConfig:
        """The decrypted, ORM-free settings a driver needs (may raise CryptoError).

        A starter provider's endpoint and key are the platform's, read from the
        settings now (``providers.starter``); whatever is stored is ignored.
        """
        if self.starter:
            base_url, credentials = starter.starter_driver_settings()
            config: dict[str, Any] = {}
            provider_type, auth_method = starter.PROVIDER_TYPE, starter.AUTH_METHOD
        else:
            config = self.get_config()
            credentials = self.get_credentials()
            base_url = catalog.effective_endpoint(
                self.provider_type, self.endpoint, config
            )
            provider_type, auth_method = self.provider_type, self.effective_auth_method
        return DriverConfig(
            provider_type=provider_type,
            base_url=base_url,
            auth_method=auth_method,
            credentials=credentials,
            config=config,
            timeouts=Timeouts(
                connect=self.timeout_connect,
                first_byte=self.timeout_first_byte,
                total=self.timeout_total,
            ),
            name=self.name,
        )

    def clean(self) -> None:
        super().clean()
        if self.timeout_first_byte > self.timeout_total:
            raise ValidationError(
                {"timeout_first_byte": "Must not exceed the total timeout."}
            )
        if self.starter:
            return  # nothing of its own to validate: the platform's settings
        try:
            config, credentials = self.get_config(), self.get_credentials()
        except CryptoError as exc:
            raise ValidationError(
                f"The stored credentials cannot be decrypted ({exc}); enter them again."
            ) from None
        errors = catalog.validate(
            self.provider_type,
            self.effective_auth_method,
            self.endpoint,
            config,
            credentials,
        )
        if errors:
            # Errors on the encrypted fields are reported on the form's own fields.
            raise ValidationError(errors)


class HealthEvent(models.Model):
    """One change of a provider's health, kept as a short history."""

    KEEP = 50  # per provider

    provider = models.ForeignKey(
        "providers.Provider", on_delete=models.CASCADE, related_name="health_events"
    )
    from_health = models.CharField(max_length=16, choices=Provider.Health.choices)
    to_health = models.CharField(max_length=16, choices=Provider.Health.choices)
    message = models.TextField(blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["provider", "-created_at"], name="health_event_idx")
        ]

    def __str__(self) -> str:
        return f"{self.provider}: {self.from_health} → {self.to_health}"
