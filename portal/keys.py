"""The user's own API keys in the current organization: list, create, revoke."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, cast

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.utils import timezone
from django.views.decorators.http import require_POST

from accounts.access import organization_context
from accounts.models import Organization, User
from gateway.forms import ModelListField
from gateway.models import ApiKey
from portal.layout import page


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


@login_required
def keys_page(request: HttpRequest) -> HttpResponse:
    ctx = organization_context(request)
    org = ctx.organization
    if org is None:
        return page(request, "portal/keys.html", ctx, section="keys", keys=[])
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
    response = page(
        request,
        "portal/keys.html",
        ctx,
        section="keys",
        form=form,
        keys=keys,
        secret=secret,
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
