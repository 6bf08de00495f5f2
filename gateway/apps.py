from __future__ import annotations

from django.apps import AppConfig


class GatewayConfig(AppConfig):
    name = "gateway"
    verbose_name = "Gateway"

    def ready(self) -> None:
        from django.db.backends.signals import connection_created

        from gateway import signals
        from gateway.percentile import register_sqlite_percentile

        signals.connect()
        connection_created.connect(
            register_sqlite_percentile, dispatch_uid="mg_sqlite_percentile"
        )
