"""Model and grant admin, scoped to the organizations the user administers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import admin, messages
from django.db.models import Q, QuerySet
from django.http import Http404, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect
from django.urls import URLPattern, path

from accounts.access import OrganizationScopedAdmin, is_member, is_superuser
from models_catalog.discovery import sync_provider_models
from models_catalog.models import AIModel, Grant
from models_catalog.starter import add_starter
from providers.admin import ProviderAdmin, starter_organizations
from providers.crypto import CryptoError
from providers.drivers.errors import DriverError
from providers.forms import JSONObjectField
from providers.health import scrubbed
from providers.models import Provider

if TYPE_CHECKING:
    from django.http import HttpRequest


STARTER_ONLY = (
    "The starter provider serves only the platform's starter model; "
    "add models to a provider of your own."
)
# What the platform decides for its starter model: the model and its prices.
STARTER_FIXED = [
    "provider",
    "model_id",
    "input_cost_per_million",
    "output_cost_per_million",
    "context_window",
]


class AIModelForm(forms.ModelForm[AIModel]):
    """The vendor config as a JSON object: decrypted for editing, resealed on save."""

    model_config_json = JSONObjectField(
        label="Model config",
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="A JSON object of vendor settings for this model (stored encrypted).",
    )

    class Meta:
        model = AIModel
        fields = [
            "provider",
            "name",
            "model_id",
            "alias",
            "model_type",
            "status",
            "instance_wide",
            "input_cost_per_million",
            "output_cost_per_million",
            "context_window",
            "requests_per_minute",
        ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial.setdefault("model_config_json", self.instance.get_config())
        field = self.fields.get("provider")
        if isinstance(field, forms.ModelChoiceField) and field.queryset is not None:
            # The starter provider serves the platform's starter model only.
            field.queryset = field.queryset.exclude(starter=True)

    def clean_model_config_json(self) -> dict[str, Any]:
        value = self.cleaned_data.get("model_config_json")
        if value in (None, ""):
            return {}
        if not isinstance(value, dict):
            raise forms.ValidationError("Enter a JSON object ({...}).")
        return value

    def clean(self) -> dict[str, Any]:
        # ModelForm.clean() returns cleaned_data itself (its stub says "or None").
        super().clean()
        data = self.cleaned_data
        provider = data.get("provider")
        if provider is not None and provider.starter:
            self.add_error("provider", STARTER_ONLY)
        elif provider is not None:
            # The organization always follows the provider; it is never chosen.
            self.instance.organization_id = provider.organization_id
        return data

    def save(self, commit: bool = True) -> AIModel:
        self.instance.seal("model_config", self.cleaned_data["model_config_json"])
        return super().save(commit=commit)


@admin.register(AIModel)
class AIModelAdmin(OrganizationScopedAdmin):
    form = AIModelForm
    list_display = [
        "__str__",
        "model_id",
        "provider",
        "organization",
        "model_type",
        "status",
        "input_cost_per_million",
        "output_cost_per_million",
        "source",
        "missing_since",
    ]
    list_filter = [
        "model_type",
        "status",
        "source",
        ("missing_since", admin.EmptyFieldListFilter),
        ("provider", admin.RelatedOnlyFieldListFilter),
        ("organization", admin.RelatedOnlyFieldListFilter),
    ]
    list_select_related = ["provider", "organization"]
    search_fields = ["name", "model_id", "alias", "provider__name"]
    list_per_page = 50

    def get_urls(self) -> list[URLPattern]:
        add_starter_view = self.admin_site.admin_view(self.add_starter_view)
        return [
            path(
                "add-starter/",
                add_starter_view,
                name="models_catalog_aimodel_add_starter",
            ),
            *super().get_urls(),
        ]

    def add_starter_view(self, request: HttpRequest) -> HttpResponse:
        """The provider list's one-click starter button (``models_catalog.starter``).

        Only for an organization the user may add it to (``starter_organizations``):
        any other id, existing or not, is the same 404.
        """
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        allowed = {str(org.pk): org for org in starter_organizations(request)}
        org = allowed.get(str(request.POST.get("organization", "")))
        if org is None:
            raise Http404
        provider, created = add_starter(org, request.user)  # type: ignore[arg-type]  # admin_view: a signed-in staff User
        if created:
            self.message_user(
                request,
                f"Added the starter model {provider.models.get().model_id} to "
                f"{org.name} (provider “{provider.name}”).",
                messages.SUCCESS,
            )
        return redirect("admin:providers_provider_changelist")

    def get_fields(
        self, request: HttpRequest, obj: AIModel | None = None
    ) -> tuple[str, ...]:
        return (
            "provider",
            "organization",
            "name",
            "model_id",
            "alias",
            "model_type",
            "status",
            "instance_wide",
            "input_cost_per_million",
            "output_cost_per_million",
            "context_window",
            "requests_per_minute",
            "model_config_json",
            "source",
            "missing_since",
            "owner",
        )

    def get_readonly_fields(
        self, request: HttpRequest, obj: AIModel | None = None
    ) -> list[str]:
        readonly = ["organization", "source", "missing_since", "owner"]
        if obj is not None and obj.provider.starter:
            # Left out of the form: the platform's key pays for exactly this.
            readonly += STARTER_FIXED
        if not is_superuser(request):
            # Left out of the form, so a POSTed value is ignored.
            readonly.append("instance_wide")
        return readonly

    def save_model(
        self, request: HttpRequest, obj: AIModel, form: AIModelForm, change: bool
    ) -> None:
        if not change and obj.owner_id is None:
            obj.owner = request.user  # type: ignore[assignment]  # the admin serves signed-in staff only: a User
        super().save_model(request, obj, form, change)


class GrantForm(forms.ModelForm[Grant]):
    """A grant; a user grantee must be a member of the organization owning the target.

    Visibility counts a grant to a user only inside that organization (rule 3),
    so any other user grant would be dead weight, or a way to probe users.
    """

    class Meta:
        model = Grant
        fields = ["provider", "model", "user", "organization"]

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


@admin.register(Grant)
class GrantAdmin(OrganizationScopedAdmin):
    """Grants on the models and providers the user's organizations own."""

    form = GrantForm
    fields = ["provider", "model", "user", "organization", "created_by", "created_at"]
    readonly_fields = ["created_by", "created_at"]
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


# -- "Discover models now" on the provider list ---------------------------------
# Discovery belongs to the catalog, which builds on providers; so the catalog adds
# its action to the provider admin here rather than providers importing upward.

MAX_DISCOVERIES_PER_ACTION = 10


@admin.action(description="Discover models now")
def discover_models_now(
    modeladmin: admin.ModelAdmin[Provider],
    request: HttpRequest,
    queryset: QuerySet[Provider],
) -> None:
    providers = list(queryset[: MAX_DISCOVERIES_PER_ACTION + 1])
    if len(providers) > MAX_DISCOVERIES_PER_ACTION:
        modeladmin.message_user(
            request,
            f"Select at most {MAX_DISCOVERIES_PER_ACTION} providers to discover at "
            "once; the scheduler runs discovery for every provider regularly.",
            messages.WARNING,
        )
        return
    for provider in providers:
        try:
            result = sync_provider_models(provider)
        except DriverError as err:
            message = scrubbed(err.message, provider.driver_config())
            modeladmin.message_user(
                request,
                f"{provider.name}: discovery failed — {message}",
                messages.ERROR,
            )
            continue
        except CryptoError as exc:
            modeladmin.message_user(
                request, f"{provider.name}: discovery failed — {exc}", messages.ERROR
            )
            continue
        details = []
        for label, names in (
            ("added", result.added),
            ("updated", result.updated),
            ("gone", result.gone),
            ("back", result.returned),
        ):
            if names:
                shown = ", ".join(names[:10]) + (" …" if len(names) > 10 else "")
                details.append(f"{label}: {shown}")
        modeladmin.message_user(
            request,
            f"{provider.name}: {result.summary()}"
            + (f" ({'; '.join(details)})" if details else ""),
            messages.SUCCESS,
        )


ProviderAdmin.actions = [*ProviderAdmin.actions, discover_models_now]
