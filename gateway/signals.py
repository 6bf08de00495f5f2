"""Receivers: invalidate the gateway's caches when routing or key data changes.

Cache invalidation is cross-cutting (every writer of these tables — admin,
bootstrap, discovery, rotation — must trigger it), the one kind of behaviour the
house style allows in signals. Connected in ``GatewayConfig.ready()``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db import transaction

if TYPE_CHECKING:
    from django.db.models import Model

# Saves that cannot change who may call what (a login stamps last_login).
IRRELEVANT_UPDATES = frozenset({"last_login"})


def on_change(sender: type[Model], **kwargs: Any) -> None:
    from gateway.state import invalidate

    update_fields = kwargs.get("update_fields")
    if update_fields and set(update_fields) <= IRRELEVANT_UPDATES:
        return
    transaction.on_commit(invalidate)


def connect() -> None:
    from django.db.models.signals import post_delete, post_save

    from accounts.models import Membership, Organization, User
    from gateway.models import ApiKey, Budget
    from models_catalog.models import AIModel, Grant
    from providers.models import HealthEvent, Provider

    # HealthEvent: health changes by conditional update (no Provider save), and
    # routing orders providers by health.
    watched = (
        ApiKey,
        Budget,
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
