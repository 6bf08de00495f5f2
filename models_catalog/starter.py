"""One click: the platform's starter model in an organization (``providers.starter``).

``add_starter`` creates the organization's starter provider (OpenAI on the
platform's key, nothing secret stored) and its one model, shared with the
whole organization, or returns the one it already has: one per organization,
so a second click changes nothing. Removing it is deleting the provider, as
for any other.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction

from accounts.models import Organization, User
from models_catalog import price_catalog
from models_catalog.models import AIModel, Grant
from providers import starter
from providers.models import Provider


def existing(organization: Organization) -> Provider | None:
    return Provider.objects.filter(organization=organization, starter=True).first()


def _free_name(organization: Organization) -> str:
    taken = set(
        Provider.objects.filter(
            organization=organization, name__startswith=starter.NAME
        ).values_list("name", flat=True)
    )
    name, n = starter.NAME, 1
    while name in taken:
        n += 1
        name = f"{starter.NAME}-{n}"
    return name


def add_starter(organization: Organization, user: User | None) -> tuple[Provider, bool]:
    """The organization's starter provider, created now if it has none.

    Returns (provider, created). The caller checks that the platform key is
    configured and that ``user`` administers ``organization``.
    """
    found = existing(organization)
    if found is not None:
        return found, False
    model_id = starter.model_id()
    try:
        with transaction.atomic():
            provider = Provider.objects.create(
                organization=organization,
                owner=user,
                name=_free_name(organization),
                provider_type=starter.PROVIDER_TYPE,
                auth_method=starter.AUTH_METHOD,
                starter=True,
            )
            model = AIModel(
                provider=provider,
                organization=organization,
                owner=user,
                model_id=model_id,
                model_type=AIModel.ModelType.INFERENCE,
            )
            # The catalog's list prices; a model it does not know starts at zero.
            price_catalog.apply_prices(model, starter.PROVIDER_TYPE)
            model.save()
            Grant.objects.create(
                model=model, organization=organization, created_by=user
            )
    except IntegrityError:
        # A concurrent click created it first (one starter per organization).
        found = existing(organization)
        if found is None:
            raise
        return found, False
    return provider, True
