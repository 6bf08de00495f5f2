"""Gateway data: API keys (hashed secrets) and usage records."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from django.db import models
from django.utils import timezone

from gateway.apikeys import (
    display_prefix,
    hash_secret,
    new_secret,
    validate_operator_secret,
)

if TYPE_CHECKING:
    from accounts.models import Organization, User


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

    @classmethod
    def issue(
        cls,
        organization: Organization,
        user: User | None,
        name: str,
        *,
        secret: str | None = None,
        created_by: User | None = None,
        **fields: Any,
    ) -> tuple[ApiKey, str]:
        """Create and save a key; return it with its secret, never available again.

        The one way to mint a key (admin, user pages, command, bootstrap). A fresh
        secret is generated unless the operator supplies one (bootstrap), which
        must pass ``validate_operator_secret``; ``fields`` are further model fields
        (``allowed_models``, ``expires_at``, ``requests_per_minute``).
        Raises ``ValueError`` for an unacceptable operator secret.
        """
        key = cls(organization=organization, user=user, name=name, **fields)
        secret = key.set_secret(secret)
        key.created_by = created_by
        key.save()
        return key, secret

    def set_secret(self, secret: str | None = None) -> str:
        """Store the hash and display prefix of ``secret`` (fresh when None); no save.

        Returns the secret. Raises ``ValueError`` for an unacceptable one.
        """
        secret = secret or new_secret()
        problem = validate_operator_secret(secret)
        if problem:
            raise ValueError(problem)
        self.prefix = display_prefix(secret)
        self.secret_hash = hash_secret(secret)
        return secret

    def revoke(self) -> bool:
        """Revoke the key now; False when it was already revoked.

        A model save, so the gateway's caches are invalidated at once (signals);
        every replica refuses the key within 2 s even if that message is lost.
        """
        if self.revoked_at is not None:
            return False
        self.revoked_at = timezone.now()
        self.save(update_fields=["revoked_at"])
        return True

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    @property
    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()


class UsageRecord(models.Model):
    """One gateway call: who, which model, tokens, cost, latency and outcome."""

    class Source(models.TextChoices):
        API = "api", "API"
        PLAYGROUND = "playground", "Playground"

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
    source = models.CharField(
        max_length=16,
        choices=Source.choices,
        default=Source.API,
        help_text="Where the call came from: an API key, or the site's playground.",
    )
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
