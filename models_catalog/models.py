"""The model catalog: models offered by providers, and the grants that share them."""

from __future__ import annotations

import uuid
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models

from providers.fields import EncryptedFieldsMixin, EncryptedJSONField


class AIModel(EncryptedFieldsMixin, models.Model):
    """One model a provider serves, as agents name it."""

    class ModelType(models.TextChoices):
        INFERENCE = "inference", "Inference (chat)"
        EMBEDDING = "embedding", "Embedding"
        RERANK = "rerank", "Rerank"

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        INACTIVE = "inactive", "Inactive"

    class Source(models.TextChoices):
        MANUAL = "manual", "Added by hand"
        DISCOVERED = "discovered", "Discovered"

    class PriceSource(models.TextChoices):
        UNSET = "unset", "Not priced"
        CATALOG = "catalog", "Catalog"
        MANUAL = "manual", "Set by an admin"

    provider = models.ForeignKey(
        "providers.Provider", on_delete=models.CASCADE, related_name="models"
    )
    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.CASCADE, related_name="models"
    )
    owner = models.ForeignKey(
        "accounts.User",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="owned_models",
    )
    name = models.CharField("display name", max_length=200, blank=True)
    model_id = models.CharField(
        max_length=255, help_text="The vendor's id for the model."
    )
    alias = models.CharField(
        max_length=255,
        blank=True,
        help_text="Optional name agents may use instead of the model id.",
    )
    model_type = models.CharField(
        "type", max_length=16, choices=ModelType.choices, default=ModelType.INFERENCE
    )
    model_config = EncryptedJSONField()
    instance_wide = models.BooleanField(default=False)
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.ACTIVE
    )
    input_cost_per_million = models.DecimalField(
        max_digits=12, decimal_places=6, default=0
    )
    output_cost_per_million = models.DecimalField(
        max_digits=12, decimal_places=6, default=0
    )
    cache_read_cost_per_million = models.DecimalField(
        max_digits=12,
        decimal_places=6,
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
        help_text="Price of prompt tokens read from the vendor's prompt cache. "
        "Empty: not priced, billed at the input price.",
    )
    cache_write_cost_per_million = models.DecimalField(
        max_digits=12,
        decimal_places=6,
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
        help_text="Price of prompt tokens written to the vendor's prompt cache. "
        "Empty: not priced, billed at the input price.",
    )
    cost_per_thousand_searches = models.DecimalField(
        max_digits=12,
        decimal_places=6,
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
        help_text="Rerank models: the price of 1,000 search units (Cohere: one "
        "query with up to 100 documents; Bedrock bills alike). Empty: searches "
        "are not priced (reported tokens still bill at the input price).",
    )
    price_source = models.CharField(
        max_length=16,
        choices=PriceSource.choices,
        default=PriceSource.UNSET,
        help_text="Where the prices came from: the bundled price catalog (kept "
        "current by refresh_model_catalog) or an admin (never overwritten).",
    )
    context_window = models.PositiveIntegerField(null=True, blank=True)
    source = models.CharField(
        max_length=16, choices=Source.choices, default=Source.MANUAL
    )
    requests_per_minute = models.PositiveIntegerField(null=True, blank=True)
    tokens_per_minute = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Optional cap on input + output tokens per minute.",
    )
    missing_since = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text="Set when discovery no longer finds the model at the vendor; "
        "such models are not routed to until they reappear.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "model"
        ordering = ["organization__name", "provider__name", "model_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "model_id"], name="model_unique_id_per_provider"
            ),
            models.CheckConstraint(
                condition=models.Q(input_cost_per_million__gte=0)
                & models.Q(output_cost_per_million__gte=0),
                name="model_costs_not_negative",
            ),
            # Null passes a check constraint: an unpriced cache bills as input.
            models.CheckConstraint(
                condition=models.Q(cache_read_cost_per_million__gte=0)
                & models.Q(cache_write_cost_per_million__gte=0),
                name="model_cache_costs_not_negative",
            ),
            models.CheckConstraint(
                condition=models.Q(cost_per_thousand_searches__gte=0),
                name="model_search_cost_not_negative",
            ),
        ]
        indexes = [
            models.Index(fields=["model_id"], name="model_model_id_idx"),
            models.Index(fields=["alias"], name="model_alias_idx"),
        ]

    def __str__(self) -> str:
        return self.name or self.model_id

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.provider_id and not self.organization_id:
            self.organization_id = self.provider.organization_id
        super().save(*args, **kwargs)

    def get_config(self) -> dict[str, Any]:
        value = self.reveal("model_config", default={})
        return value if isinstance(value, dict) else {}

    def clean(self) -> None:
        super().clean()
        if self.provider_id and self.organization_id is None:
            self.organization_id = self.provider.organization_id
        if (
            self.provider_id
            and self.organization_id
            and self.provider.organization_id != self.organization_id
        ):
            raise ValidationError(
                {"provider": "The provider belongs to another organization."}
            )


GRANT_ONE_TARGET = "Choose either a model or a provider to share, not both."
GRANT_ONE_GRANTEE = "Choose either an organization or a user to share with, not both."
ALREADY_GRANTED = "This is already shared with them."


class Grant(models.Model):
    """An ACL entry: use of a provider or model, granted to a user or organization."""

    provider = models.ForeignKey(
        "providers.Provider",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="grants",
    )
    model = models.ForeignKey(
        "models_catalog.AIModel",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="grants",
    )
    user = models.ForeignKey(
        "accounts.User",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="grants",
    )
    organization = models.ForeignKey(
        "accounts.Organization",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="grants_received",
    )
    # The public id (STYLE rule 7): the API addresses it by this, never the pk.
    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    created_by = models.ForeignKey(
        "accounts.User",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="grants_made",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(provider__isnull=False, model__isnull=True)
                    | models.Q(provider__isnull=True, model__isnull=False)
                ),
                name="grant_exactly_one_target",
                violation_error_message=GRANT_ONE_TARGET,
            ),
            models.CheckConstraint(
                condition=(
                    models.Q(user__isnull=False, organization__isnull=True)
                    | models.Q(user__isnull=True, organization__isnull=False)
                ),
                name="grant_exactly_one_grantee",
                violation_error_message=GRANT_ONE_GRANTEE,
            ),
            models.UniqueConstraint(
                fields=["model", "user"],
                condition=models.Q(model__isnull=False, user__isnull=False),
                name="grant_unique_model_user",
                violation_error_message=ALREADY_GRANTED,
            ),
            models.UniqueConstraint(
                fields=["model", "organization"],
                condition=models.Q(model__isnull=False, organization__isnull=False),
                name="grant_unique_model_org",
                violation_error_message=ALREADY_GRANTED,
            ),
            models.UniqueConstraint(
                fields=["provider", "user"],
                condition=models.Q(provider__isnull=False, user__isnull=False),
                name="grant_unique_provider_user",
                violation_error_message=ALREADY_GRANTED,
            ),
            models.UniqueConstraint(
                fields=["provider", "organization"],
                condition=models.Q(provider__isnull=False, organization__isnull=False),
                name="grant_unique_provider_org",
                violation_error_message=ALREADY_GRANTED,
            ),
        ]

    def __str__(self) -> str:
        target = self.model or self.provider
        grantee = self.user or self.organization
        return f"{target} → {grantee}"

    @property
    def owner_organization_id(self) -> int | None:
        """The organization that owns the granted object (and so manages the grant)."""
        # A null foreign key reads as None without a query.
        if self.model is not None:
            return self.model.organization_id
        if self.provider is not None:
            return self.provider.organization_id
        return None

    def clean(self) -> None:
        """Say which choice is missing or doubled, before the database would."""
        super().clean()
        errors: dict[str, str] = {}
        if not self.provider_id and not self.model_id:
            errors["model"] = (
                "Choose the model to share (or a provider, to share all its models)."
            )
        elif self.provider_id and self.model_id:
            errors["provider"] = (
                "Choose a model or a provider, not both: a provider grant already "
                "covers all its models."
            )
        if not self.user_id and not self.organization_id:
            errors["organization"] = (
                "Choose who gets access: an organization (all its members) or one user."
            )
        elif self.user_id and self.organization_id:
            errors["user"] = "Choose an organization or a user, not both."
        if errors:
            raise ValidationError(errors)


class CatalogRelease(models.Model):
    """A price catalog loaded by ``refresh_model_catalog``, shared by every process.

    The newest release (by ``as_of``) that is newer than the bundled file is the
    catalog in force (``models_catalog.price_catalog.current``).
    """

    as_of = models.DateField(help_text="The date of the figures in the file.")
    content = models.TextField(help_text="The validated catalog file, as loaded.")
    loaded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-as_of", "-loaded_at"]

    def __str__(self) -> str:
        return f"price catalog of {self.as_of}"
