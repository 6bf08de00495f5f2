"""Receivers: invalidate the gateway's caches when routing or key data changes.

Cache invalidation is cross-cutting (every writer of these tables — admin,
bootstrap, discovery, rotation — must trigger it), the one kind of behaviour the
house style allows in signals. Connected in ``GatewayConfig.ready()``.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction


def on_change(sender: Any, **kwargs: Any) -> None:
    from gateway.state import invalidate

    transaction.on_commit(invalidate)


def connect() -> None:
    from django.db.models.signals import m2m_changed, post_delete, post_save

    from accounts.models import Membership, Organization, User
    from gateway.models import ApiKey
    from models_catalog.models import AIModel, Grant
    from providers.models import HealthEvent, Provider

    # HealthEvent: health changes by conditional update (no Provider save), and
    # routing orders providers by health.
    watched = (
        ApiKey,
        Provider,
        HealthEvent,
        AIModel,
        Grant,
        Membership,
        Organization,
        User,
    )
    for model in watched:
        post_save.connect(on_change, sender=model, dispatch_uid=f"gw-save-{model}")
        post_delete.connect(on_change, sender=model, dispatch_uid=f"gw-del-{model}")
    m2m_changed.connect(on_change, dispatch_uid="gw-m2m")
