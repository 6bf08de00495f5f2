"""After a provider is saved: its health follows, the same for every surface.

The admin and the management API both validate with ``ProviderForm`` and then
call ``follow_up_save``, so what a save triggers is written once.
"""

from __future__ import annotations

from collections.abc import Callable

from providers.forms import ProviderForm
from providers.models import Provider
from providers.tasks import after_provider_saved, follow


def follow_up_save(
    provider: Provider,
    form: ProviderForm,
    on_check: Callable[[], None] = lambda: None,
) -> bool:
    """Record or queue the health check a save calls for; True when one follows.

    ``on_check`` runs just before the check is recorded or queued (the admin
    marks its status panel pending there, so the result reads as fresh).
    """
    if provider.status != Provider.Status.ACTIVE:
        return False  # an inactive provider is never called, not even to check it
    if form.verification is not None:
        # The save's own vendor check passed: that is the status now.
        on_check()
        follow(provider, form.verification, discover=form.reach_changed)
    elif form.connection_changed:
        on_check()
        after_provider_saved(provider.pk)
    elif provider.health in (Provider.Health.FAILED, Provider.Health.UNAVAILABLE):
        # Nothing of the connection changed, but what made it fail may have
        # (say, the operator allowed private addresses): show a fresh status.
        on_check()
        after_provider_saved(provider.pk, discover=False)
    else:
        return False
    return True
