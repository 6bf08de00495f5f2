from __future__ import annotations

from django.apps import AppConfig


class BootstrapConfig(AppConfig):
    """Operator bootstrap from a YAML file; sits above ``gateway`` (imports it)."""

    name = "bootstrap"
    verbose_name = "Bootstrap"
