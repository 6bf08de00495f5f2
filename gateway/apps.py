from __future__ import annotations

from django.apps import AppConfig


class GatewayConfig(AppConfig):
    name = "gateway"
    verbose_name = "Gateway"

    def ready(self) -> None:
        from gateway import signals

        signals.connect()
        # Imported for its effect: the model admin's "Test" view and action.
        # ... and the delete pages' list of what still uses a provider or model.
        import gateway.dependents_admin
        import gateway.model_test_admin  # noqa: F401
