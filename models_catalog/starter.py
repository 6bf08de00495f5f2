"""One click: the platform's starter model in an organization (``providers.starter``).

``add_starter`` creates the organization's starter provider (OpenAI on the
platform's key, nothing secret stored) and its one model, shared with the
whole organization, or returns the one it already has: one per organization,
so a second click changes nothing. Removing it is deleting the provider, as
for any other.
"""

from __future__ import annotations

from decimal import Decimal

from django.db import IntegrityError, transaction

from accounts.models import Organization, User
from models_catalog.models import AIModel, Grant
from providers import starter
from providers.models import Provider

# gpt-4o-mini's list prices (USD per million tokens); another STARTER_MODEL
# starts at zero for an admin to set.
KNOWN_PRICES = {"gpt-4o-mini": (Decimal("0.15"), Decimal("0.60"))}


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
    input_cost, output_cost = KNOWN_PRICES.get(model_id, (Decimal(0), Decimal(0)))
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
            model = AIModel.objects.create(
                provider=provider,
                organization=organization,
                owner=user,
                model_id=model_id,
                model_type=AIModel.ModelType.INFERENCE,
                input_cost_per_million=input_cost,
                output_cost_per_million=output_cost,
            )
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
