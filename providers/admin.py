"""Provider admin: scoped to the user's organizations; credentials only "configured".

The change form shows the fields the type and auth method use (the field map
is rendered for ``static/providers/provform.js``), a status panel at its top,
and a small scoped JSON view (``<id>/status/``) the panel polls after a save
until the check that followed it has finished.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin, messages
from django.contrib.admin.utils import flatten_fieldsets, unquote
from django.db.models import Count, QuerySet
from django.http import Http404, JsonResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.dateformat import format as date_format
from django.utils.decorators import method_decorator
from django.utils.html import format_html, format_html_join
from django.utils.timezone import localtime
from django.views.decorators.debug import sensitive_post_parameters

from accounts.access import (
    OrganizationScopedAdmin,
    is_superuser,
    request_admin_org_ids,
)
from accounts.models import Organization
from providers import catalog, starter
from providers.forms import HEADERS_FIELD, SECRET_FIELDS, ProviderForm
from providers.models import HealthEvent, Provider
from providers.saving import follow_up_save
from providers.tasks import check_and_follow

if TYPE_CHECKING:
    # The stubs' name for what get_fieldsets returns (a stub-only alias).
    from django.contrib.admin.options import _FieldsetSpec
    from django.forms import ModelForm
    from django.http import HttpRequest, HttpResponse
    from django.utils.safestring import SafeString


HEALTH_FIELDS = ["health", "health_message", "health_checked_at", "health_latency_ms"]
# Session key: when the last save of provider <pk> queued a check (ISO time).
CHECK_PENDING_KEY = "provider-check-queued-{pk}"
HISTORY_ROWS = 20
# Checks run in the request: bound the work one click can cause.
MAX_CHECKS_PER_ACTION = 25
# Request attribute: the vendor checks this request's provider form already made.
PROBES_ATTR = "_provider_probes"


def starter_organizations(request: HttpRequest) -> list[Organization]:
    """The organizations this user may add the starter provider to now.

    None unless the operator configured the platform key; then the ones the
    user administers (every one for a superuser) that have no starter yet.
    """
    if not starter.configured():
        return []
    orgs = Organization.objects.exclude(providers__starter=True)
    if not is_superuser(request):
        orgs = orgs.filter(pk__in=request_admin_org_ids(request))
    return list(orgs.order_by("name"))


@admin.register(Provider)
class ProviderAdmin(OrganizationScopedAdmin):
    form = ProviderForm

    class Media:
        css = {"all": ["providers/admin.css", "providers/provform.css"]}
        js = ["providers/provform.js"]

    change_form_template = "admin/providers/provider/change_form.html"

    list_display = [
        "name",
        "organization",
        "provider_type",
        "effective_endpoint",
        "status",
        "health_badge",
        "model_count",
        "health_checked_at",
    ]
    list_filter = [
        "provider_type",
        "status",
        "health",
        ("organization", admin.RelatedOnlyFieldListFilter),
    ]
    list_select_related = ["organization"]
    search_fields = ["name", "endpoint"]
    list_per_page = 50
    actions = ["check_health_now"]

    # Error reports must never carry the submitted secrets.
    @method_decorator(sensitive_post_parameters(*SECRET_FIELDS, HEADERS_FIELD))
    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        if request.method == "POST":
            # "Save as new" is an add, whatever object the page showed.
            adding = "_saveasnew" in request.POST
            self._verify_before_transaction(request, None if adding else object_id)
        return super().changeform_view(request, object_id, form_url, extra_context)

    def _verify_before_transaction(
        self, request: HttpRequest, object_id: str | None
    ) -> None:
        """Validate the posted form once outside the admin's transaction.

        Its vendor check (if the save needs one) is cached on the request, so
        the validation inside ``changeform_view``'s transaction reuses it
        instead of keeping a transaction open during the vendor call. Anything
        unusual (no permission, no such object) is left to the real view.
        """
        setattr(request, PROBES_ATTR, {})
        if object_id is None:
            if not self.has_add_permission(request):
                return
            obj = None
        else:
            obj = self.get_object(request, unquote(object_id))
            if obj is None or not self.has_change_permission(request, obj):
                return
        fields = flatten_fieldsets(self.get_fieldsets(request, obj))
        form_class = self.get_form(request, obj, change=obj is not None, fields=fields)
        form_class(request.POST, request.FILES, instance=obj).is_valid()

    def get_queryset(self, request: HttpRequest) -> QuerySet[Provider]:
        providers: QuerySet[Provider] = super().get_queryset(request)
        return providers.annotate(model_count=Count("models", distinct=True))

    change_list_template = "admin/providers/provider/change_list.html"

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """The list, with the one-click starter button where it may be used."""
        context = {
            "starter_organizations": starter_organizations(request),
            "starter_model": starter.model_id(),
            **(extra_context or {}),
        }
        return super().changelist_view(request, context)

    def get_fieldsets(
        self, request: HttpRequest, obj: Provider | None = None
    ) -> _FieldsetSpec:
        if obj is not None and obj.starter:
            return self._starter_fieldsets()
        fieldsets: _FieldsetSpec = [
            (
                None,
                {
                    "fields": [
                        "organization",
                        "name",
                        "provider_type",
                        "endpoint",
                        "auth_method",
                        "region",
                        "api_version",
                        "deployments",
                        "wire_api",
                        "rerank_api",
                        "status",
                        "priority",
                        self.instance_wide_field(request),
                        "activate_discovered",
                        "owner",
                    ]
                },
            ),
            (
                "Credentials (write-only)",
                {
                    "fields": [
                        "api_key",
                        "auth_header",
                        "auth_prefix",
                        "aws_access_key_id",
                        "aws_secret_access_key",
                        "aws_session_token",
                        "token_url",
                        "client_id",
                        "scope",
                        "client_secret",
                        "custom_headers",
                        "clear_credentials",
                        "save_without_verifying",
                    ],
                    "description": "Stored encrypted and never shown again. "
                    "Leave a field blank to keep its stored value. Saving new "
                    "ones checks them with the vendor first (active providers).",
                },
            ),
            (
                "More vendor settings",
                {"fields": ["extra_config"], "classes": ["collapse"]},
            ),
            (
                "Limits and timeouts",
                {
                    "fields": [
                        "requests_per_minute",
                        "tokens_per_minute",
                        "timeout_connect",
                        "timeout_first_byte",
                        "timeout_total",
                    ]
                },
            ),
        ]
        if obj is None:  # nothing to show before the first save
            return fieldsets
        return [*fieldsets, ("Health history", {"fields": ["health_history"]})]

    def _starter_fieldsets(self) -> _FieldsetSpec:
        """A starter provider: no endpoint, type or credential of its own to edit."""
        return [
            (
                None,
                {
                    "fields": [
                        "organization",
                        "name",
                        "starter",
                        "provider_type",
                        "status",
                        "priority",
                        "owner",
                    ],
                    "description": "Calls OpenAI with the platform's starter key, "
                    "set by the operator. Nobody in the organization can see it; "
                    "delete this provider to stop using it.",
                },
            ),
            (
                "Limits and timeouts",
                {
                    "fields": [
                        "requests_per_minute",
                        "tokens_per_minute",
                        "timeout_connect",
                        "timeout_first_byte",
                        "timeout_total",
                    ]
                },
            ),
            ("Health history", {"fields": ["health_history"]}),
        ]

    def get_readonly_fields(
        self, request: HttpRequest, obj: Provider | None = None
    ) -> list[str]:
        readonly = [*HEALTH_FIELDS, "health_history", "owner"]
        if obj is not None and obj.starter:
            # Where the platform key goes is the platform's, not the org's.
            readonly += ["starter", "provider_type", "organization"]
        if not is_superuser(request):
            # Read-only fields are left out of the form, so a POSTed value is ignored.
            readonly += ["instance_wide", "instance_wide_text"]
        return readonly

    def get_form(
        self,
        request: HttpRequest,
        obj: Provider | None = None,
        change: bool = False,
        **kwargs: Any,
    ) -> type[ModelForm[Provider]]:
        form = super().get_form(request, obj, change=change, **kwargs)
        if issubclass(form, ProviderForm):
            form.probe_cache = getattr(request, PROBES_ATTR, None)
        field = form.base_fields.get("organization")
        if obj is None and field is not None:
            ids = request_admin_org_ids(request)
            if len(ids) == 1 and not is_superuser(request):
                field.initial = next(iter(ids))
        return form

    def save_model(
        self, request: HttpRequest, obj: Provider, form: ProviderForm, change: bool
    ) -> None:
        if not change and obj.owner_id is None:
            obj.owner = request.user  # type: ignore[assignment]  # the admin serves signed-in staff only: a User
        super().save_model(request, obj, form, change)
        follow_up_save(obj, form, lambda: self._mark_check_pending(request, obj))

    def _mark_check_pending(self, request: HttpRequest, obj: Provider) -> None:
        """The change page polls the status until a check newer than this ran."""
        request.session[CHECK_PENDING_KEY.format(pk=obj.pk)] = timezone.now().isoformat(
            timespec="milliseconds"
        )

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: Provider | None = None,
    ) -> HttpResponse:
        context["provider_field_map"] = catalog.form_field_map()
        if obj is not None and obj.pk is not None and request.method == "GET":
            context["provider_status"] = status_of(obj)
            context["provider_status_url"] = reverse(
                f"{self.admin_site.name}:providers_provider_status", args=[obj.pk]
            )
            context["provider_check_queued"] = request.session.pop(
                CHECK_PENDING_KEY.format(pk=obj.pk), ""
            )
        return super().render_change_form(request, context, add, change, form_url, obj)

    def get_urls(self) -> list[URLPattern]:
        status = path(
            "<path:object_id>/status/",
            self.admin_site.admin_view(self.status_view),
            name="providers_provider_status",
        )
        return [status, *super().get_urls()]

    def status_view(self, request: HttpRequest, object_id: str) -> JsonResponse:
        """The provider's health and model count, for its change page to poll.

        Scoped like the change page: another organization's provider is a 404.
        """
        obj = self.get_object(request, object_id)
        if obj is None or not self.has_view_or_change_permission(request, obj):
            raise Http404
        return JsonResponse(status_of(obj))

    @admin.action(description="Check health now")
    def check_health_now(
        self, request: HttpRequest, queryset: QuerySet[Provider]
    ) -> None:
        providers = list(queryset[: MAX_CHECKS_PER_ACTION + 1])
        if len(providers) > MAX_CHECKS_PER_ACTION:
            self.message_user(
                request,
                f"Select at most {MAX_CHECKS_PER_ACTION} providers to check at once; "
                "the scheduler checks every provider regularly.",
                messages.WARNING,
            )
            return
        for provider in providers:
            result = check_and_follow(provider)
            level = (
                messages.SUCCESS
                if result.health == Provider.Health.AVAILABLE
                else messages.ERROR
            )
            self.message_user(
                request, f"{provider.name}: {result.health} — {result.message}", level
            )

    @admin.display(description="endpoint")
    def effective_endpoint(self, obj: Provider) -> str:
        if obj.starter:
            return "platform starter (OpenAI)"
        # Decrypt the config only when it can change the answer.
        if obj.endpoint or not obj.is_configured("provider_config"):
            return catalog.effective_endpoint(obj.provider_type, obj.endpoint, None)
        return obj.base_url

    @admin.display(description="health", ordering="health")
    def health_badge(self, obj: Provider) -> SafeString:
        # Colours live in providers/admin.css: the CSP allows no inline style.
        return format_html(
            '<span class="health-badge" data-health="{}" title="{}">{}</span>',
            obj.health,
            obj.health_message,
            obj.get_health_display(),
        )

    @admin.display(description="models", ordering="model_count")
    def model_count(self, obj: Provider) -> int:
        return int(getattr(obj, "model_count", 0))

    @admin.display(description="Health history")
    def health_history(self, obj: Provider) -> SafeString | str:
        """The latest transitions, newest first (a read-only table, not a formset)."""
        if obj.pk is None:
            return "—"
        events = HealthEvent.objects.filter(provider=obj).order_by("-created_at", "-pk")
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{} → {}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    date_format(localtime(e.created_at), "Y-m-d H:i:s"),
                    e.from_health,
                    e.to_health,
                    e.message,
                    f"{e.latency_ms} ms" if e.latency_ms is not None else "",
                )
                for e in events[:HISTORY_ROWS]
            ),
        )
        if not rows:
            return "No checks yet."
        return format_html(
            '<table class="health-history"><tr><th>when</th><th>change</th>'
            "<th>message</th><th>latency</th></tr>{}</table>",
            rows,
        )


def status_of(provider: Provider) -> dict[str, Any]:
    """What the status panel shows (no secret: health, message, times, count)."""
    checked = provider.health_checked_at
    return {
        "health": provider.health,
        "label": provider.get_health_display(),
        "message": provider.health_message,
        "checked_at": checked.isoformat(timespec="milliseconds") if checked else None,
        "checked_at_display": (
            date_format(localtime(checked), "Y-m-d H:i:s") if checked else "never"
        ),
        "latency_ms": provider.health_latency_ms,
        "model_count": provider.models.count(),
    }
