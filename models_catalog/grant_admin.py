"""The grant admin: a form that explains what a grant does and what it needs.

Errors name the missing or doubled choice (``Grant.clean``) before the
database's constraints would, models are offered as "provider / model id
(name)" and only while active.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from django import forms
from django.contrib import admin
from django.db.models import Q

from accounts.access import OrganizationScopedAdmin, is_member
from models_catalog.models import AIModel, Grant

if TYPE_CHECKING:
    from django.contrib.admin.options import _FieldsetSpec
    from django.http import HttpRequest


class GrantForm(forms.ModelForm[Grant]):
    """A grant; a user grantee must be a member of the organization owning the target.

    Visibility counts a grant to a user only inside that organization (rule 3),
    so any other user grant would be dead weight, or a way to probe users.
    """

    class Meta:
        model = Grant
        fields = ["provider", "model", "user", "organization"]
        help_texts = {
            "model": "The model to share. Only active models are listed.",
            "provider": "Or a provider instead of a model: shares every model it "
            "serves, now and later.",
            "organization": "Share with a whole organization: all its members, "
            "and its service API keys, see and may call what you share.",
            "user": "Or share with one member of the organization that owns the "
            "model or provider.",
        }

    def clean(self) -> dict[str, Any]:
        # ModelForm.clean() returns cleaned_data itself (its stub says "or None").
        super().clean()
        data = self.cleaned_data
        target = data.get("model") or data.get("provider")
        user = data.get("user")
        if (
            target is not None
            and user is not None
            and not is_member(user.pk, target.organization_id)
        ):
            self.add_error(
                "user",
                "Grant to a member of the organization that owns the "
                f"{'model' if data.get('model') else 'provider'}.",
            )
        grantee = data.get("organization")
        provider = target.provider if isinstance(target, AIModel) else target
        if (
            provider is not None
            and provider.starter
            and grantee is not None
            and grantee.pk != provider.organization_id
        ):
            # The platform's key serves each organization that added it itself.
            self.add_error(
                "organization",
                "The starter model is for its own organization only; another "
                "organization adds its own starter in one click.",
            )
        return data


GRANT_HELP = (
    "A grant shares one model (or every model of a provider) with a whole "
    "organization or with one member of yours. Those it names see the model in "
    "their model list and may call it through the gateway with their API keys, "
    "within the model's and provider's limits; calls are billed to the caller's "
    "organization, and your provider's credentials are never shown to them. "
    "Delete the grant to take access back."
)


def model_label(model: AIModel) -> str:
    """“provider / model id (name)”: unambiguous when two providers serve one model."""
    label = f"{model.provider.name} / {model.model_id}"
    named = model.name and model.name != model.model_id
    return f"{label} ({model.name})" if named else label


class ModelChoiceByLabel(forms.ModelChoiceField[AIModel]):
    def label_from_instance(self, obj: AIModel) -> str:
        return model_label(obj)


@admin.register(Grant)
class GrantAdmin(OrganizationScopedAdmin):
    """Grants on the models and providers the user's organizations own."""

    form = GrantForm
    fieldsets = [
        (
            None,
            {
                "description": GRANT_HELP,
                "classes": ["mg-grant-help"],
                "fields": ["model", "provider"],
            },
        ),
        ("Share with", {"fields": ["organization", "user"]}),
        (None, {"fields": ["created_by", "created_at"]}),
    ]
    readonly_fields = ["created_by", "created_at"]

    class Media:
        css: ClassVar[dict[str, list[str]]] = {
            "all": ["models_catalog/models_admin.css"]
        }

    def get_fieldsets(
        self, request: HttpRequest, obj: Grant | None = None
    ) -> _FieldsetSpec:
        # Who made it, and when, exist only once it does.
        fieldsets = list(self.fieldsets or [])
        return fieldsets if obj is not None else fieldsets[:-1]

    def formfield_for_foreignkey(
        self, db_field: Any, request: HttpRequest, **kwargs: Any
    ) -> forms.ModelChoiceField[Any] | None:
        if db_field.name == "model":
            kwargs["form_class"] = ModelChoiceByLabel
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if db_field.name == "model" and field is not None:
            queryset = field.queryset
            assert queryset is not None  # the scoped choices, or every model
            match = request.resolver_match
            current = str(match.kwargs.get("object_id", "")) if match else ""
            active = Q(status=AIModel.Status.ACTIVE)
            if current.isdigit():
                # An existing grant keeps its model listed, even if inactive now.
                active |= Q(grants__pk=current)
            field.queryset = (
                queryset.filter(active)
                .distinct()
                .select_related("provider")
                .order_by("provider__name", "model_id")
            )
        return field

    list_display = [
        "__str__",
        "target_kind",
        "grantee_kind",
        "created_by",
        "created_at",
    ]
    list_select_related = [
        "provider",
        "model",
        "user",
        "organization",
        "created_by",
    ]
    search_fields = [
        "model__model_id",
        "model__name",
        "provider__name",
        "user__username",
        "organization__name",
    ]
    list_per_page = 50

    def scope_q(self, org_ids: frozenset[int]) -> Q:
        return Q(model__organization_id__in=org_ids) | Q(
            provider__organization_id__in=org_ids
        )

    def organization_id_of(self, obj: Grant) -> int | None:
        return obj.owner_organization_id

    def save_model(
        self, request: HttpRequest, obj: Grant, form: GrantForm, change: bool
    ) -> None:
        if not change:
            obj.created_by = request.user  # type: ignore[assignment]  # the admin serves signed-in staff only: a User
        super().save_model(request, obj, form, change)

    @admin.display(description="target")
    def target_kind(self, obj: Grant) -> str:
        return "model" if obj.model_id else "provider"

    @admin.display(description="grantee")
    def grantee_kind(self, obj: Grant) -> str:
        return "user" if obj.user_id else "organization"
