"""What a budget of an organization may limit: the one rule for forms and the API.

- a user: a member of the organization;
- an API key: one of the organization's keys;
- a model: one visible to the organization (``models_catalog.visibility`` for
  the organization itself: its own, those granted to it, instance-wide ones);
- a provider: the organization's own, or the provider of a model visible to it
  (its spend on a shared provider is its spend all the same, and the gateway
  counts it: ``gateway.budgets.spend.usage_q``).

``*_for(org_ids)`` give the rows offered for several organizations at once (the
admin's choices; None: every organization, for a superuser); ``belongs`` is
the exact check for one organization, which a form always makes.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import reduce
from operator import or_

from django.db.models import Q, QuerySet

from accounts.models import Membership, User
from gateway.models import ApiKey
from models_catalog.models import AIModel
from models_catalog.visibility import Principal, visibility_q
from providers.models import Provider

# Scope → the Budget field naming its target (the organization scope has none).
TARGET_FIELDS = {
    "user": "user",
    "key": "api_key",
    "model": "model",
    "provider": "provider",
}


def users_for(org_ids: Iterable[int] | None) -> QuerySet[User]:
    if org_ids is None:
        return User.objects.all()
    members = Membership.objects.filter(organization_id__in=list(org_ids))
    return User.objects.filter(pk__in=members.values("user_id"))


def api_keys_for(org_ids: Iterable[int] | None) -> QuerySet[ApiKey]:
    keys = ApiKey.objects.select_related("organization")
    if org_ids is None:
        return keys
    return keys.filter(organization_id__in=list(org_ids))


def _visible_q(org_ids: Iterable[int]) -> Q:
    return reduce(
        or_,
        (visibility_q(Principal.for_organization(i)) for i in org_ids),
        Q(pk__in=[]),
    )


def models_for(org_ids: Iterable[int] | None) -> QuerySet[AIModel]:
    models = AIModel.objects.select_related("provider")
    if org_ids is None:
        return models
    return models.filter(_visible_q(list(org_ids))).distinct()


def providers_for(org_ids: Iterable[int] | None) -> QuerySet[Provider]:
    if org_ids is None:
        return Provider.objects.all()
    ids = list(org_ids)
    visible = AIModel.objects.filter(_visible_q(ids)).values("provider_id")
    return Provider.objects.filter(
        Q(organization_id__in=ids) | Q(instance_wide=True) | Q(pk__in=visible)
    ).distinct()


def belongs(scope: str, target: object, organization_id: int) -> bool:
    """Whether ``target`` (a user, key, model or provider) may be limited by a
    budget of the organization with this ``scope``."""
    pk = getattr(target, "pk", None)
    if pk is None:
        return False
    finders = {
        "user": users_for,
        "key": api_keys_for,
        "model": models_for,
        "provider": providers_for,
    }
    finder = finders.get(scope)
    return finder is not None and finder([organization_id]).filter(pk=pk).exists()
