from __future__ import annotations

from django.apps import AppConfig


class ProvidersConfig(AppConfig):
    name = "providers"
    verbose_name = "Providers"

    def ready(self) -> None:
        from django.core import checks

        from providers.checks import check_credentials_keys, check_image_fetch_loopback

        checks.register(check_credentials_keys, checks.Tags.security)
        checks.register(check_image_fetch_loopback, checks.Tags.security)
