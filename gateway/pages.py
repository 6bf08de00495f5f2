"""User pages: the models a user may call, and their personal API keys.

Each page acts in one organization at a time (``accounts.access``): the one the
user chose with the switcher, remembered in the session, else their first.
Nothing from another membership shows, exactly as for an API key of that
organization.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, cast

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from accounts.access import (
    OrganizationContext,
    choose_organization,
    organization_context,
)
from accounts.models import Organization, User
from gateway.forms import ModelListField
from gateway.models import ApiKey
from models_catalog.models import AIModel
from models_catalog.visibility import Principal, visible_models


class PersonalKeyForm(forms.Form):
    name = forms.CharField(max_length=100)
    allowed_models = ModelListField(required=False, label="Only these models")
    expires_in_days = forms.IntegerField(
        required=False, min_value=1, max_value=3650, label="Expires in (days)"
    )

    def __init__(self, *args: Any, organization: Organization, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.organization = organization

    def clean(self) -> dict[str, object]:
        data = super().clean() or {}
        name = data.get("name")
        taken = ApiKey.objects.filter(organization=self.organization, name=name)
        if name and taken.exists():
            self.add_error(
                "name", "This organization already has a key with this name."
            )
        return data


def _render(
    request: HttpRequest, template: str, ctx: OrganizationContext, **extra: object
) -> HttpResponse:
    return render(
        request,
        template,
        {
            "organization": ctx.organization,
            "memberships": ctx.memberships,
            **extra,
        },
    )


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
    return _render(request, "gateway/models.html", ctx, models=rows)


@login_required
def keys_page(request: HttpRequest) -> HttpResponse:
    ctx = organization_context(request)
    org = ctx.organization
    if org is None:
        return _render(request, "gateway/keys.html", ctx, keys=[], form=None)
    user = cast(User, request.user)  # login_required: a signed-in User
    secret = None
    form = PersonalKeyForm(request.POST or None, organization=org)
    if request.method == "POST" and form.is_valid():
        days = form.cleaned_data["expires_in_days"]
        _key, secret = ApiKey.issue(
            org,
            user,
            form.cleaned_data["name"],
            created_by=user,
            allowed_models=form.cleaned_data["allowed_models"],
            expires_at=timezone.now() + timedelta(days=days) if days else None,
        )
        form = PersonalKeyForm(organization=org)
    keys = ApiKey.objects.filter(user=user, organization=org).select_related(
        "organization"
    )
    response = _render(
        request, "gateway/keys.html", ctx, form=form, keys=keys, secret=secret
    )
    response["Cache-Control"] = "no-store"
    return response


@require_POST
@login_required
def revoke_key(request: HttpRequest, pk: int) -> HttpResponse:
    org = organization_context(request).organization
    key = get_object_or_404(ApiKey, pk=pk, user=request.user, organization=org)
    key.revoke()
    return redirect("keys")


@require_POST
@login_required
def switch_organization(request: HttpRequest) -> HttpResponse:
    """Act in another of the user's organizations; 404 unless a member of it."""
    choose_organization(request, str(request.POST.get("organization", "")))
    target = str(request.POST.get("next", ""))
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = "/models/"
    return redirect(target)
