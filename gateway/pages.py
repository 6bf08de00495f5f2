"""User pages: the models a user may call, and their personal API keys."""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from accounts.models import Organization
from gateway.apikeys import create_key
from gateway.forms import ModelListField
from gateway.models import ApiKey
from models_catalog.visibility import Principal, visible_models


class PersonalKeyForm(forms.Form):
    name = forms.CharField(max_length=100)
    organization = forms.ModelChoiceField(queryset=Organization.objects.none())
    allowed_models = ModelListField(required=False, label="Only these models")
    expires_in_days = forms.IntegerField(
        required=False, min_value=1, max_value=3650, label="Expires in (days)"
    )

    def __init__(self, *args: object, user: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.user = user
        self.fields["organization"].queryset = Organization.objects.filter(  # type: ignore[attr-defined]
            memberships__user=user
        )

    def clean(self) -> dict[str, object]:
        data = super().clean() or {}
        org, name = data.get("organization"), data.get("name")
        if org and name and ApiKey.objects.filter(organization=org, name=name).exists():
            self.add_error(
                "name", "This organization already has a key with this name."
            )
        return data


@login_required
def models_page(request: HttpRequest) -> HttpResponse:
    rows = (
        visible_models(Principal.for_user(request.user.pk))
        .select_related("provider", "organization")
        .order_by("alias", "model_id")
    )
    return render(request, "gateway/models.html", {"models": rows})


@login_required
def keys_page(request: HttpRequest) -> HttpResponse:
    secret = None
    form = PersonalKeyForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        days = form.cleaned_data["expires_in_days"]
        _key, secret = create_key(
            organization=form.cleaned_data["organization"],
            user=request.user,  # type: ignore[arg-type]
            name=form.cleaned_data["name"],
            created_by=request.user,  # type: ignore[arg-type]
            allowed_models=form.cleaned_data["allowed_models"],
            expires_at=timezone.now() + timedelta(days=days) if days else None,
        )
        form = PersonalKeyForm(user=request.user)
    keys = ApiKey.objects.filter(user=request.user).select_related("organization")
    response = render(
        request, "gateway/keys.html", {"form": form, "keys": keys, "secret": secret}
    )
    response["Cache-Control"] = "no-store"
    return response


@require_POST
@login_required
def revoke_key(request: HttpRequest, pk: int) -> HttpResponse:
    key = get_object_or_404(ApiKey, pk=pk, user=request.user)
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
    return redirect("keys")
