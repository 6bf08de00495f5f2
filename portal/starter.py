"""The one-click starter model on the site (``models_catalog.starter``).

Offered on the playground to an admin of the organization the site acts in,
when the operator has configured the platform key and the organization has no
starter provider yet. The action acts on that organization only; anyone else
(a member, another organization's admin, an unconfigured platform) gets a 404.
"""

from __future__ import annotations

from typing import cast

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from accounts.access import OrganizationContext, administers, organization_context
from accounts.models import User
from models_catalog.starter import add_starter, existing
from providers import starter


def may_add(ctx: OrganizationContext) -> bool:
    """Whether this user may add the starter provider to the site's organization."""
    membership = ctx.membership
    return (
        membership is not None and starter.configured() and administers(membership.role)
    )


def can_offer(ctx: OrganizationContext) -> str:
    """The starter model's id when the button should show here, else ''."""
    if not may_add(ctx):
        return ""
    assert ctx.membership is not None  # may_add checked it
    if existing(ctx.membership.organization) is not None:
        return ""
    return starter.model_id()


@require_POST
@login_required
def add_starter_provider(request: HttpRequest) -> HttpResponse:
    """Add it (a second click changes nothing) and go back to the playground."""
    ctx = organization_context(request)
    if not may_add(ctx):
        raise Http404
    assert ctx.membership is not None  # may_add checked it
    provider, created = add_starter(
        ctx.membership.organization, cast(User, request.user)
    )
    if created:
        messages.success(
            request,
            f"Added the starter model {starter.model_id()} (provider "
            f"“{provider.name}”) to {ctx.membership.organization.name}.",
        )
    return redirect("playground")
