"""Gateway data: API keys (hashed secrets), usage records and stored responses."""

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
from providers.fields import EncryptedFieldsMixin, EncryptedJSONField

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
    tokens_per_minute = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Optional cap on input + output tokens per minute.",
    )
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
        (``allowed_models``, ``expires_at``, ``requests_per_minute``,
        ``tokens_per_minute``).
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
        ADMIN_TEST = "admin_test", "Admin test"

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
    # The organization whose provider (and credentials) served the call: it
    # sees every use of its providers, whoever called. Kept when the provider
    # is deleted, so the owner's history stays complete; set null (not
    # cascaded) when that organization goes, so the caller's record stays.
    # No index of its own: usage_provider_org_time_idx starts with it.
    provider_organization = models.ForeignKey(
        "accounts.Organization",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        db_index=False,
        related_name="served_usage",
        help_text="The organization owning the provider that served the call.",
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
        help_text="Where the call came from: an API key, the site's playground, "
        "or an admin's model test.",
    )
    model_name = models.CharField(max_length=255, help_text="As the caller sent it.")
    stream = models.BooleanField(default=False)
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    # Parts of input_tokens (which counts every prompt token, cached or not).
    # db_default too: a process of the previous release, mid rolling deploy,
    # inserts rows without these columns.
    cache_read_tokens = models.PositiveIntegerField(
        default=0,
        db_default=0,
        help_text="Input tokens read from the vendor's prompt cache.",
    )
    cache_creation_tokens = models.PositiveIntegerField(
        default=0,
        db_default=0,
        help_text="Input tokens written to the vendor's prompt cache.",
    )
    search_units = models.PositiveIntegerField(
        default=0,
        db_default=0,
        help_text="Rerank calls: the search units the vendor billed (or the "
        "gateway counted by the vendor's billing rule, then marked estimated).",
    )
    cost = models.DecimalField(max_digits=18, decimal_places=10, default=0)
    latency_ms = models.PositiveIntegerField(default=0)
    ttfb_ms = models.PositiveIntegerField(null=True, blank=True)
    status_code = models.PositiveSmallIntegerField()
    error_type = models.CharField(max_length=64, blank=True)
    usage_estimated = models.BooleanField(
        default=False,
        help_text="The vendor reported no token counts; the gateway estimated them.",
    )
    # The answer's x-request-id (gateway.request_ids); empty for calls without
    # one (the playground, an admin's model test). db_default: a process of
    # the previous release, mid rolling deploy, inserts rows without it.
    request_id = models.CharField(
        max_length=128,
        blank=True,
        default="",
        db_default="",
        help_text="The x-request-id the gateway answered the call with.",
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
            ),
            models.Index(
                fields=["provider_organization", "-created_at"],
                name="usage_provider_org_time_idx",
            ),
            # The admin's search finds a call by its id (exact match).
            models.Index(fields=["request_id"], name="usage_request_id_idx"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["uuid"], name="usage_unique_uuid")
        ]

    def __str__(self) -> str:
        return (
            f"{self.model_name} {self.status_code} @ {self.created_at:%Y-%m-%d %H:%M}"
        )


class UsageSums(models.Model):
    """One organization's usage over a period, for one value of one dimension.

    Written only by ``gateway.rollup`` (recomputed, never incremented). Each
    period has one ``total`` row per organization and one row per user, key,
    model and provider seen in it (the other three columns empty): the row
    count grows with the catalog, not with the product of its dimensions,
    which every usage row can differ in. Foreign keys are set null on delete
    like ``UsageRecord``'s, so a deleted user's rows join the "no user" group
    exactly as their raw records do.
    """

    class Dimension(models.TextChoices):
        TOTAL = "total"
        USER = "user"
        API_KEY = "api_key"
        MODEL = "model"
        PROVIDER = "provider"

    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.CASCADE, related_name="+"
    )
    dimension = models.CharField(max_length=8, choices=Dimension.choices)
    user = models.ForeignKey(
        "accounts.User",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    api_key = models.ForeignKey(
        "gateway.ApiKey",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    model = models.ForeignKey(
        "models_catalog.AIModel",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    provider = models.ForeignKey(
        "providers.Provider",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    requests = models.PositiveIntegerField()
    errors = models.PositiveIntegerField()
    input_tokens = models.BigIntegerField()
    output_tokens = models.BigIntegerField()
    cost = models.DecimalField(max_digits=24, decimal_places=10)

    class Meta:
        abstract = True


class UsageHourly(UsageSums):
    """``UsageSums`` of one UTC hour."""

    hour = models.DateTimeField(help_text="Start of the UTC hour.")

    class Meta:
        verbose_name = "hourly usage"
        verbose_name_plural = "hourly usage"
        indexes = [
            models.Index(
                fields=["organization", "dimension", "hour"],
                name="usage_hourly_org_dim_hour_idx",
            ),
            # roll_up deletes an hour range of every organization.
            models.Index(fields=["hour"], name="usage_hourly_hour_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.organization_id} {self.hour:%Y-%m-%d %H}h {self.dimension}"


class UsageDaily(UsageSums):
    """``UsageSums`` of one whole UTC day, summed from its 24 ``UsageHourly``.

    Kept only for days whose every hour is rolled up: a 30-day breakdown reads
    30 rows per group instead of 720.
    """

    day = models.DateTimeField(help_text="Start of the UTC day.")

    class Meta:
        verbose_name = "daily usage"
        verbose_name_plural = "daily usage"
        indexes = [
            models.Index(
                fields=["organization", "dimension", "day"],
                name="usage_daily_org_dim_day_idx",
            ),
            models.Index(fields=["day"], name="usage_daily_day_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.organization_id} {self.day:%Y-%m-%d} {self.dimension}"


class UsageLatencyHourly(models.Model):
    """How many of an organization's calls in one UTC hour fell in one latency
    bucket (``gateway.histogram``: log-scale, about 10 % wide)."""

    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.CASCADE, related_name="+"
    )
    hour = models.DateTimeField(help_text="Start of the UTC hour.")
    bucket = models.SmallIntegerField()
    requests = models.PositiveIntegerField()

    class Meta:
        verbose_name = "hourly latency histogram"
        verbose_name_plural = "hourly latency histograms"
        indexes = [
            models.Index(
                fields=["organization", "hour"], name="usage_latency_org_hour_idx"
            ),
            models.Index(fields=["hour"], name="usage_latency_hour_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.organization_id} {self.hour:%Y-%m-%d %H}h #{self.bucket}"


class UsageRollupState(models.Model):
    """The one row saying how far the hourly rollups go (``gateway.rollup``)."""

    complete_before = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Rollups are complete for every hour before this one (UTC).",
    )
    watermark = models.BigIntegerField(
        default=0, help_text="The highest usage record id the last run read."
    )
    previous_watermark = models.BigIntegerField(
        default=0,
        help_text="The watermark before the last run: ids above it are read "
        "again, for records committed after a higher id.",
    )

    class Meta:
        verbose_name = "usage rollup state"

    def __str__(self) -> str:
        return f"rollups complete before {self.complete_before}"


class StoredResponseQuerySet(models.QuerySet["StoredResponse"]):
    def for_organization(self, organization_id: int) -> StoredResponseQuerySet:
        return self.filter(organization_id=organization_id)

    def live(self) -> StoredResponseQuerySet:
        """Not yet expired: callers never see a row beat has not deleted yet."""
        return self.filter(expires_at__gt=timezone.now())


class StoredResponse(EncryptedFieldsMixin, models.Model):
    """A Responses API answer kept for ``previous_response_id``, retrieval and listing.

    ``payload`` holds ``{"response": <the Response object as answered>,
    "input_items": [<the request's input items>]}``, encrypted at rest: it is
    the callers' conversation. ``previous_response_id`` is plain text, not a
    foreign key, so deleting a parent never cascades to its children (their
    history then answers "not found", as OpenAI's does).
    """

    id = models.CharField(primary_key=True, max_length=128, editable=False)
    organization = models.ForeignKey(
        "accounts.Organization",
        on_delete=models.CASCADE,
        related_name="stored_responses",
    )
    api_key = models.ForeignKey(
        "gateway.ApiKey",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="stored_responses",
    )
    user = models.ForeignKey(
        "accounts.User",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="stored_responses",
    )
    model_name = models.CharField(max_length=255, help_text="As the caller sent it.")
    previous_response_id = models.CharField(max_length=128, blank=True)
    payload = EncryptedJSONField()
    created_at = models.DateTimeField(default=timezone.now)
    # The retention task deletes by this column alone, in batches.
    expires_at = models.DateTimeField(db_index=True)

    objects = StoredResponseQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.id


# Spend control's models live with the rest of it (gateway/budgets/).
from gateway.budgets.models import AlertSent, AlertSettings, Budget  # noqa: E402

__all__ = [
    "AlertSent",
    "AlertSettings",
    "ApiKey",
    "Budget",
    "StoredResponse",
    "UsageDaily",
    "UsageHourly",
    "UsageLatencyHourly",
    "UsageRecord",
    "UsageRollupState",
    "UsageSums",
]
