"""System checks for the credentials encryption configuration."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core import checks

if TYPE_CHECKING:
    from django.apps import AppConfig

from providers import crypto

GENERATE_HINT = (
    "Each entry is 'key-id:base64' of 32 random bytes, comma-separated; "
    "generate one with 'python manage.py generate_credentials_key'."
)


def check_credentials_keys(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """CREDENTIALS_KEYS must parse; some key must exist outside DEBUG."""
    entries = settings.CREDENTIALS_KEYS
    if isinstance(entries, str):
        entries = [entries]
    try:
        keys = crypto.parse_keys(list(entries))
    except crypto.KeyConfigError as exc:
        return [
            checks.Error(
                f"CREDENTIALS_KEYS is invalid: {exc}",
                hint=GENERATE_HINT,
                id="providers.E002",
            )
        ]
    if keys or settings.CREDENTIALS_KMS_KEY_ID:
        return []
    if settings.DEBUG:
        return [
            checks.Warning(
                "No credentials encryption key is configured: provider "
                "credentials cannot be saved.",
                hint="Set CREDENTIALS_KEYS or CREDENTIALS_KMS_KEY_ID. " + GENERATE_HINT,
                id="providers.W001",
            )
        ]
    return [
        checks.Error(
            "No credentials encryption key is configured.",
            hint="Set CREDENTIALS_KEYS or CREDENTIALS_KMS_KEY_ID. " + GENERATE_HINT,
            id="providers.E003",
        )
    ]


def check_image_fetch_loopback(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """IMAGE_FETCH_ALLOW_LOOPBACK is a test switch: warn when it is on in production."""
    if getattr(settings, "IMAGE_FETCH_ALLOW_LOOPBACK", False) and not settings.DEBUG:
        return [
            checks.Warning(
                "IMAGE_FETCH_ALLOW_LOOPBACK is on: callers' image URLs may reach "
                "services listening on this host's loopback interface.",
                hint="Unset IMAGE_FETCH_ALLOW_LOOPBACK; it exists for tests.",
                id="providers.W002",
            )
        ]
    return []
