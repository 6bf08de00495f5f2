"""Model and grant admin, scoped to the organizations the user administers.

The grant admin lives in ``grant_admin`` (registered by importing it here),
the model list's helpers in ``model_list``.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import Http404, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect
from django.urls import URLPattern, path
from django.utils.html import format_html

from accounts.access import (
    OrganizationScopedAdmin,
    is_superuser,
    request_admin_org_ids,
)
from models_catalog import price_catalog
from models_catalog.discovery import sync_provider_models
from models_catalog.grant_admin import GrantAdmin, GrantForm
from models_catalog.model_list import (
    StatusListForm,
    cache_prices,
    status_action,
    tokens,
    usd,
)
from models_catalog.models import AIModel
from models_catalog.starter import add_starter
from providers.admin import ProviderAdmin, starter_organizations
from providers.crypto import CryptoError
from providers.drivers.errors import DriverError
from providers.forms import JSONObjectField
from providers.health import scrubbed
from providers.models import Provider

if TYPE_CHECKING:
    from django.http import HttpRequest


# Registered by their modules; re-exported for the code that names them here.
__all__ = ["AIModelAdmin", "AIModelForm", "GrantAdmin", "GrantForm"]

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
    "cache_read_cost_per_million",
    "cache_write_cost_per_million",
    "context_window",
]


PRICE_FIELDS = {"input_cost_per_million": "input", "output_cost_per_million": "output"}
# Optional: blank (null) bills cached prompt tokens at the input price.
CACHE_PRICE_FIELDS = {
    "cache_read_cost_per_million": ("cache_read_cost", "read from"),
    "cache_write_cost_per_million": ("cache_write_cost", "written to"),
}


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
            "cache_read_cost_per_million",
            "cache_write_cost_per_million",
            "cost_per_thousand_searches",
            "context_window",
            "requests_per_minute",
            "tokens_per_minute",
        ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial.setdefault("model_config_json", self.instance.get_config())
        as_of = (
            price_catalog.current().as_of
            if PRICE_FIELDS.keys() & set(self.fields)
            else None
        )
        for name, what in PRICE_FIELDS.items():
            if name in self.fields:
                self.fields[name].required = False
                self.fields[name].help_text = (
                    f"USD per million {what} tokens. Leave blank to use the bundled "
                    f"price catalog's list price (figures of {as_of}; 0 when it does "
                    "not know the model); a price you enter is yours: catalog "
                    "refreshes never change it."
                )
        for name, (_, what) in CACHE_PRICE_FIELDS.items():
            if name in self.fields:
                self.fields[name].help_text = (
                    f"USD per million prompt tokens {what} the vendor's prompt "
                    "cache. Leave blank to use the catalog's price when the input "
                    "and output prices are blank too; without one, these tokens "
                    "are billed at the input price."
                )
        if "context_window" in self.fields:
            self.fields["context_window"].help_text = (
                "Tokens. Leave blank to use the catalog's figure when it knows the "
                "model."
            )
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
        self._clean_prices(data)
        return data

    def _clean_prices(self, data: dict[str, Any]) -> None:
        """Blank prices come from the catalog; entered ones are the admin's own."""
        names = [name for name in PRICE_FIELDS if name in self.fields]
        if not names:  # the starter model: its prices are fixed
            return
        instance = self.instance
        provider, model_id = data.get("provider"), data.get("model_id")
        entry = None
        if provider is not None and model_id:
            entry = price_catalog.current().lookup(provider.provider_type, model_id)
        if "context_window" in self.fields and data.get("context_window") is None:
            data["context_window"] = entry.context_window if entry else None
        entered = [*names, *(n for n in CACHE_PRICE_FIELDS if n in self.fields)]
        if any(data.get(name) is not None for name in entered):
            if not instance.pk or any(n in self.changed_data for n in entered):
                instance.price_source = AIModel.PriceSource.MANUAL
            for name in names:  # a blank cache price stays blank: billed as input
                if data.get(name) is None:
                    data[name] = Decimal(0)
            return
        if entry is None:
            instance.price_source = AIModel.PriceSource.UNSET
            data.update(dict.fromkeys(names, Decimal(0)))
            return
        instance.price_source = AIModel.PriceSource.CATALOG
        data["input_cost_per_million"] = entry.input_cost
        data["output_cost_per_million"] = entry.output_cost
        for name, (attr, _) in CACHE_PRICE_FIELDS.items():
            data[name] = getattr(entry, attr)

    def save(self, commit: bool = True) -> AIModel:
        self.instance.seal("model_config", self.cleaned_data["model_config_json"])
        return super().save(commit=commit)


@admin.register(AIModel)
class AIModelAdmin(OrganizationScopedAdmin):
    form = AIModelForm
    # Fits 1366 px beside the navigation and filters: the model id is shown
    # under a display name that differs from it, and "missing" as a badge.
    list_display = [
        "model_column",
        "provider_name",
        "type_badge",
        "status",
        "prices",
        "context",
    ]
    list_display_links = ["model_column"]
    list_editable = ["status"]
    list_filter = [
        "model_type",
        "status",
        "source",
        "price_source",
        ("missing_since", admin.EmptyFieldListFilter),
        ("provider", admin.RelatedOnlyFieldListFilter),
        ("organization", admin.RelatedOnlyFieldListFilter),
    ]
    list_select_related = ["provider", "organization"]
    search_fields = ["name", "model_id", "alias", "provider__name"]
    list_per_page = 50
    actions = [
        status_action(AIModel.Status.ACTIVE, "Activated"),
        status_action(AIModel.Status.INACTIVE, "Deactivated"),
    ]
    # Views other apps add under a model's URL (``<pk>/<name>/``): the gateway's
    # "Test" lives above the catalog, so it registers itself here.
    object_views: ClassVar[dict[str, Callable[..., HttpResponse]]] = {}

    class Media:
        css: ClassVar[dict[str, list[str]]] = {
            "all": ["models_catalog/models_admin.css"]
        }

    def get_changelist_form(
        self, request: HttpRequest, **kwargs: Any
    ) -> type[forms.ModelForm[AIModel]]:
        return StatusListForm

    @admin.display(description="model", ordering="model_id")
    def model_column(self, obj: AIModel) -> str:
        shown = obj.name or obj.model_id
        detail = (
            format_html('<span class="mg-model-id">{}</span>', obj.model_id)
            if shown != obj.model_id
            else ""
        )
        missing = (
            format_html(
                '<span class="mg-badge mg-missing" title="{}">{}</span>',
                "The vendor no longer lists this model; it is not routed to.",
                "missing at vendor",
            )
            if obj.missing_since
            else ""
        )
        return format_html("{}{}{}", shown, detail, missing)

    def get_list_display(
        self, request: HttpRequest
    ) -> list[str | Callable[[Any], str | bool]]:
        columns = list(super().get_list_display(request))
        if is_superuser(request) or len(request_admin_org_ids(request)) > 1:
            # Several organizations: say whose under the provider's name.
            columns[columns.index("provider_name")] = "provider_and_organization"
        return columns

    @admin.display(description="provider", ordering="provider__name")
    def provider_name(self, obj: AIModel) -> str:
        return obj.provider.name

    @admin.display(description="provider", ordering="provider__name")
    def provider_and_organization(self, obj: AIModel) -> str:
        return format_html(
            '{}<span class="mg-model-id">{}</span>',
            obj.provider.name,
            obj.organization.name,
        )

    @admin.display(description="type", ordering="model_type")
    def type_badge(self, obj: AIModel) -> str:
        return format_html(
            '<span class="mg-badge mg-type-{}">{}</span>',
            obj.model_type,
            {"inference": "Chat"}.get(obj.model_type, obj.get_model_type_display()),
        )

    @admin.display(description="$ per 1M in / out")
    def prices(self, obj: AIModel) -> str:
        unset = obj.price_source == AIModel.PriceSource.UNSET
        if unset and not (obj.input_cost_per_million or obj.output_cost_per_million):
            return format_html('<span class="mg-muted">{}</span>', "not priced")
        return format_html(
            '{} / {}{} <span class="mg-price-source">{}</span>',
            usd(obj.input_cost_per_million),
            usd(obj.output_cost_per_million),
            cache_prices(obj),
            "" if unset else obj.price_source,
        )

    @admin.display(description="context", ordering="context_window")
    def context(self, obj: AIModel) -> str:
        return tokens(obj.context_window)

    def get_urls(self) -> list[URLPattern]:
        extra = [
            path(
                f"<path:object_id>/{name}/",
                self.admin_site.admin_view(partial(view, self)),
                name=f"models_catalog_aimodel_{name}",
            )
            for name, view in self.object_views.items()
        ]
        return [*extra, *self._own_urls()]

    def _own_urls(self) -> list[URLPattern]:
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
            self.instance_wide_field(request),
            "input_cost_per_million",
            "output_cost_per_million",
            "cache_read_cost_per_million",
            "cache_write_cost_per_million",
            "cost_per_thousand_searches",
            "price_source",
            "context_window",
            "requests_per_minute",
            "tokens_per_minute",
            "model_config_json",
            "source",
            "missing_since",
            "owner",
        )

    def get_readonly_fields(
        self, request: HttpRequest, obj: AIModel | None = None
    ) -> list[str]:
        readonly = ["organization", "price_source", "source", "missing_since", "owner"]
        if obj is not None and obj.provider.starter:
            # Left out of the form: the platform's key pays for exactly this.
            readonly += STARTER_FIXED
        if not is_superuser(request):
            # Left out of the form, so a POSTed value is ignored.
            readonly += ["instance_wide", "instance_wide_text"]
        return readonly

    def save_model(
        self, request: HttpRequest, obj: AIModel, form: AIModelForm, change: bool
    ) -> None:
        if not change and obj.owner_id is None:
            obj.owner = request.user  # type: ignore[assignment]  # the admin serves signed-in staff only: a User
        super().save_model(request, obj, form, change)


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
