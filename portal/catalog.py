"""The models page: every model the user may call in the current organization.

``usable_models`` is the list the home page shows too (one shared table,
``templates/portal/_model_table.html``).
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse

from accounts.access import OrganizationContext, organization_context
from models_catalog.models import AIModel
from models_catalog.visibility import Principal, visible_models
from portal.layout import page


def usable_models(ctx: OrganizationContext) -> list[AIModel]:
    """The models the user may call in the current organization (1 query)."""
    if ctx.membership is None:
        return []
    return list(
        visible_models(Principal.for_membership(ctx.membership))
        .select_related("provider")
        .order_by("model_type", "alias", "model_id", "pk")
    )


@login_required
def models_page(request: HttpRequest) -> HttpResponse:
    ctx = organization_context(request)
    models = usable_models(ctx)
    return page(request, "portal/models.html", ctx, section="models", models=models)
