"""The models page: every model the user may call in the current organization."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse

from accounts.access import organization_context
from models_catalog.models import AIModel
from models_catalog.visibility import Principal, visible_models
from portal.layout import page


@login_required
def models_page(request: HttpRequest) -> HttpResponse:
    ctx = organization_context(request)
    rows = AIModel.objects.none()
    if ctx.membership is not None:
        rows = (
            visible_models(Principal.for_membership(ctx.membership))
            .select_related("provider", "organization")
            .order_by("alias", "model_id")
        )
    return page(request, "portal/models.html", ctx, section="models", models=rows)
