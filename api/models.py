"""Management tokens: the management API's own credentials, never gateway keys.

A token acts for one organization with a role (read-only or admin), on behalf
of the user who created it; a superuser's token without an organization acts
across every organization. Only the SHA-256 of the secret and a display prefix
are stored; the secret is returned once, by ``ManagementToken.issue``.
"""

from __future__ import annotations

import secrets
import uuid
from typing import TYPE_CHECKING

from django.db import models
from django.utils import timezone

from gateway.apikeys import display_prefix, hash_secret

if TYPE_CHECKING:
    from datetime import datetime

    from accounts.models import Organization, User

# Distinct from gateway keys ("mg-"): neither surface ever looks the other up.
TOKEN_PREFIX = "mgmt_"


def new_token_secret() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(30)


def live_q() -> models.Q:
    """Neither revoked nor expired, as of now (build it per query, never once)."""
    return models.Q(revoked_at__isnull=True) & (
        models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=timezone.now())
    )


class ManagementTokenQuerySet(models.QuerySet["ManagementToken"]):
    def for_organization(self, organization: Organization) -> ManagementTokenQuerySet:
        return self.filter(organization=organization)

    def live(self) -> ManagementTokenQuerySet:
        return self.filter(live_q())


class ManagementToken(models.Model):
    """A bearer token for ``/api/v1/``: an organization and a role, or all of them."""

    class Role(models.TextChoices):
        READ_ONLY = "read_only", "Read-only"
        ADMIN = "admin", "Admin"

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organization = models.ForeignKey(
        "accounts.Organization",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="management_tokens",
        help_text="Empty only for a superuser's token, which acts across "
        "organizations.",
    )
    user = models.ForeignKey(
        "accounts.User", on_delete=models.CASCADE, related_name="management_tokens"
    )
    name = models.CharField(max_length=100)
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.READ_ONLY)
    prefix = models.CharField(max_length=16, editable=False)
    secret_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = ManagementTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "name"],
                condition=models.Q(revoked_at__isnull=True),
                name="mgmt_token_unique_live_name_per_org",
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @classmethod
    def issue(
        cls,
        organization: Organization | None,
        user: User,
        name: str,
        role: str,
        expires_at: datetime | None = None,
    ) -> tuple[ManagementToken, str]:
        """Create and save a token; return it with its secret, never available again."""
        secret = new_token_secret()
        token = cls.objects.create(
            organization=organization,
            user=user,
            name=name,
            role=role,
            expires_at=expires_at,
            prefix=display_prefix(secret),
            secret_hash=hash_secret(secret),
        )
        return token, secret

    def revoke(self) -> bool:
        """Revoke now; False when it already was."""
        done = ManagementToken.objects.filter(
            pk=self.pk, revoked_at__isnull=True
        ).update(revoked_at=timezone.now())
        return bool(done)

    @property
    def is_admin(self) -> bool:
        return self.role == self.Role.ADMIN
