"""The one visibility rule (DESIGN.md), fail closed.

A principal may use a model when the model and its provider are active, the
vendor still lists it (discovery has not marked it missing), and the model is
visible to it:

1. the principal owns it (or owns its provider); for an organization principal,
   the organization owns it; a user also sees what the organizations they
   administer own;
2. it, or its provider, is instance-wide;
3. a Grant on it, or on its provider, names the user or an organization the
   user is a member of (for an organization principal: names the organization).

The admin, the user pages, ``/v1/models`` and the gateway's routing all call
``visible_models``; nothing else decides who sees a model.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Exists, OuterRef, Q, QuerySet

from accounts.models import Membership
from models_catalog.models import AIModel, Grant
from providers.models import Provider


@dataclass(frozen=True)
class Principal:
    """Who is asking: a user (with their memberships) or an organization."""

    user_id: int | None = None
    organization_id: int | None = None
    member_org_ids: frozenset[int] = field(default_factory=frozenset)
    admin_org_ids: frozenset[int] = field(default_factory=frozenset)

    @classmethod
    def for_user(cls, user_id: int) -> Principal:
        member: set[int] = set()
        admin: set[int] = set()
        for org_id, role in Membership.objects.filter(user_id=user_id).values_list(
            "organization_id", "role"
        ):
            member.add(org_id)
            if role == Membership.Role.ADMIN:
                admin.add(org_id)
        return cls(
            user_id=user_id,
            member_org_ids=frozenset(member),
            admin_org_ids=frozenset(admin),
        )

    @classmethod
    def for_organization(cls, organization_id: int) -> Principal:
        return cls(organization_id=organization_id)


def _grant_exists(principal: Principal, **target: OuterRef) -> Q:
    grantee = Q(pk__in=[])
    if principal.user_id is not None:
        grantee |= Q(user_id=principal.user_id)
        if principal.member_org_ids:
            grantee |= Q(organization_id__in=principal.member_org_ids)
    if principal.organization_id is not None:
        grantee |= Q(organization_id=principal.organization_id)
    return Q(Exists(Grant.objects.filter(grantee, **target)))


def visibility_q(principal: Principal) -> Q:
    """The condition for AIModel rows the principal may see (not yet 'active')."""
    visible = Q(instance_wide=True) | Q(provider__instance_wide=True)
    if principal.user_id is not None:
        visible |= Q(owner_id=principal.user_id) | Q(
            provider__owner_id=principal.user_id
        )
        if principal.admin_org_ids:
            visible |= Q(organization_id__in=principal.admin_org_ids)
    if principal.organization_id is not None:
        visible |= Q(organization_id=principal.organization_id)
    if principal.user_id is None and principal.organization_id is None:
        return Q(pk__in=[])
    visible |= _grant_exists(principal, model_id=OuterRef("pk"))
    visible |= _grant_exists(principal, provider_id=OuterRef("provider_id"))
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
