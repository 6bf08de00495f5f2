"""The one visibility rule (DESIGN.md), fail closed.

A principal is always one organization's context: a user's API key acts for
(user U, the key's organization O), a service key for O alone, a signed-in user
on the site for (U, the organization chosen on the site). What U can reach
through another membership never enters O's context.

A principal may use a model when the model and its provider are active, the
vendor still lists it (discovery has not marked it missing), and, within O:

1. O owns it, and U owns it (or its provider) or administers O; a service
   principal (no user) stands for O itself and so sees everything O owns;
2. a Grant on it, or on its provider, names O;
3. O owns it and a Grant on it, or on its provider, names U;
4. it, or its provider, is instance-wide.

The admin, the user pages, ``/v1/models`` and the gateway's routing all call
``visible_models``; nothing else decides who sees a model.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Exists, OuterRef, Q, QuerySet

from accounts.access import administers, member_role
from accounts.models import Membership
from models_catalog.models import AIModel, Grant
from providers.models import Provider


@dataclass(frozen=True)
class Principal:
    """Who is asking, always inside one organization.

    ``user_id`` is None for an organization (service) principal. ``is_org_admin``
    is whether the user administers ``organization_id``; it follows from the
    pair, so ``(user_id, organization_id)`` is a complete cache key.
    """

    organization_id: int | None = None
    user_id: int | None = None
    is_org_admin: bool = False

    @classmethod
    def for_member(cls, user_id: int, organization_id: int) -> Principal | None:
        """The user acting in the organization, or None when not a member (1 query)."""
        role = member_role(user_id, organization_id)
        if role is None:
            return None
        return cls.for_role(user_id, organization_id, role)

    @classmethod
    def for_membership(cls, membership: Membership) -> Principal:
        """The membership's user acting in its organization (no query)."""
        return cls.for_role(
            membership.user_id, membership.organization_id, membership.role
        )

    @classmethod
    def for_role(cls, user_id: int, organization_id: int, role: str) -> Principal:
        """The user acting in the organization with this membership role (no query)."""
        return cls(
            organization_id=organization_id,
            user_id=user_id,
            is_org_admin=administers(role),
        )

    @classmethod
    def for_organization(cls, organization_id: int) -> Principal:
        return cls(organization_id=organization_id)

    @property
    def cache_key(self) -> tuple[int | None, int | None]:
        return (self.user_id, self.organization_id)


def _grant_exists(grantee: Q, **target: OuterRef) -> Q:
    return Q(Exists(Grant.objects.filter(grantee, **target)))


def _granted(grantee: Q) -> Q:
    """A Grant naming ``grantee`` exists on the model or on its provider."""
    return _grant_exists(grantee, model_id=OuterRef("pk")) | _grant_exists(
        grantee, provider_id=OuterRef("provider_id")
    )


def visibility_q(principal: Principal) -> Q:
    """The condition for AIModel rows the principal may see (not yet 'active')."""
    org_id = principal.organization_id
    if org_id is None:
        return Q(pk__in=[])
    owned_by_org = Q(organization_id=org_id)
    # Rule 4.
    visible = Q(instance_wide=True) | Q(provider__instance_wide=True)
    # Rule 2.
    visible |= _granted(Q(organization_id=org_id))
    if principal.user_id is None or principal.is_org_admin:
        # Rule 1 for the organization itself, or for an admin of it.
        visible |= owned_by_org
    else:
        user_id = principal.user_id
        # Rule 1 (the user's own models or provider) and rule 3, inside O only.
        visible |= owned_by_org & (
            Q(owner_id=user_id)
            | Q(provider__owner_id=user_id)
            | _granted(Q(user_id=user_id))
        )
    return visible


def visible_models(principal: Principal) -> QuerySet[AIModel]:
    """Active models on active providers that the principal may use."""
    return AIModel.objects.filter(
        visibility_q(principal),
        status=AIModel.Status.ACTIVE,
        provider__status=Provider.Status.ACTIVE,
        missing_since__isnull=True,
    )


def is_visible(principal: Principal, model: AIModel) -> bool:
    return visible_models(principal).filter(pk=model.pk).exists()
