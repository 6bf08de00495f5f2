"""The user's own API keys in the current organization: list, create, revoke.

A new key's secret is in the creation answer only (``Cache-Control: no-store``),
with ready-to-run snippets for a model the key can call. "Only these models"
offers the names visible to the user in this organization; a name that is not
visible is refused with the same message as one that does not exist.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, cast

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.utils import timezone
from django.views.decorators.http import require_POST

from accounts.access import OrganizationContext, organization_context
from accounts.models import Organization, User
from gateway.models import ApiKey
from models_catalog.models import AIModel
from portal.catalog import usable_models
from portal.dashboard import with_budgets
from portal.layout import page
from portal.snippets import PLACEHOLDER_MODEL, call_name, chat_snippets


def callable_models(ctx: OrganizationContext) -> list[tuple[str, str]]:
    """(name to call it by, model type) of each visible model, by name."""
    return sorted({(call_name(m), m.model_type) for m in usable_models(ctx)})


class PersonalKeyForm(forms.Form):
    name = forms.CharField(max_length=100)
    allowed_models = forms.MultipleChoiceField(
        required=False,
        label="Only these models",
        help_text="Leave all unticked to allow every model you can use here.",
        widget=forms.CheckboxSelectMultiple,
    )
    expires_in_days = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=3650,
        label="Expires in (days)",
        help_text="Empty: the key does not expire.",
    )

    def __init__(
        self, *args: Any, organization: Organization, model_names: list[str], **kw: Any
    ):
        super().__init__(*args, **kw)
        self.organization = organization
        field = cast(forms.MultipleChoiceField, self.fields["allowed_models"])
        field.choices = [(name, name) for name in model_names]

    def clean(self) -> dict[str, object]:
        data = super().clean() or {}
        name = data.get("name")
        taken = ApiKey.objects.filter(organization=self.organization, name=name)
        if name and taken.exists():
            self.add_error(
                "name", "This organization already has a key with this name."
            )
        return data


def snippet_model(models: list[tuple[str, str]], allowed: list[str]) -> str:
    """The first chat model the new key may call, else a placeholder."""
    for name, kind in models:
        if kind == AIModel.ModelType.INFERENCE and (not allowed or name in allowed):
            return name
    return PLACEHOLDER_MODEL


def key_status(key: ApiKey) -> str:
    if key.is_revoked:
        return "revoked"
    return "expired" if key.is_expired else "active"


@login_required
def keys_page(request: HttpRequest) -> HttpResponse:
    ctx = organization_context(request)
    org, membership = ctx.organization, ctx.membership
    if org is None or membership is None:
        return page(request, "portal/keys.html", ctx, section="keys", keys=[])
    user = cast(User, request.user)  # login_required: a signed-in User
    models = callable_models(ctx)
    names = list(dict.fromkeys(name for name, _kind in models))
    form = PersonalKeyForm(request.POST or None, organization=org, model_names=names)
    created = None
    if request.method == "POST" and form.is_valid():
        days = form.cleaned_data["expires_in_days"]
        allowed = form.cleaned_data["allowed_models"]
        key, secret = ApiKey.issue(
            org,
            user,
            form.cleaned_data["name"],
            created_by=user,
            allowed_models=allowed,
            expires_at=timezone.now() + timedelta(days=days) if days else None,
        )
        model = snippet_model(models, allowed)
        created = {
            "key": key,
            "secret": secret,
            "model": model,
            "model_known": model != PLACEHOLDER_MODEL,
            "snippets": chat_snippets(request.build_absolute_uri("/v1"), model, secret),
        }
        form = PersonalKeyForm(organization=org, model_names=names)
    keys = with_budgets(
        org.pk,
        list(
            ApiKey.objects.filter(user=user, organization=org).order_by("-created_at")
        ),
    )
    response = page(
        request,
        "portal/keys.html",
        ctx,
        section="keys",
        form=form,
        keys=[(k, key_status(k)) for k in keys],
        created=created,
        has_models=bool(names),
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
