"""Admin for API keys (secret shown once, at creation) and usage (read-only)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ERROR_FLAG
from django.core.exceptions import FieldDoesNotExist, PermissionDenied
from django.core.handlers.asgi import ASGIRequest
from django.db.models import (
    BooleanField,
    Case,
    Model,
    Prefetch,
    Q,
    QuerySet,
    Value,
    When,
)
from django.db.models.constants import LOOKUP_SEP
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    StreamingHttpResponse,
)
from django.http.response import HttpResponseBase
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.text import smart_split, unescape_string_literal

from accounts.access import (
    OrganizationScopedAdmin,
    is_superuser,
    request_admin_org_ids,
)
from gateway.budgets.display import percent_meter
from gateway.budgets.shown import PERIOD_ORDER
from gateway.budgets.status import statuses
from gateway.forms import ApiKeyForm
from gateway.models import ApiKey, Budget, UsageRecord
from gateway.request_ids import is_sane
from gateway.secret_page import secret_shown_once
from gateway.usage_export import acsv_rows, csv_rows, is_own, money, totals


@admin.register(ApiKey)
class ApiKeyAdmin(OrganizationScopedAdmin):
    form = ApiKeyForm
    list_display = [
        "name",
        "organization",
        "user",
        "masked",
        "allow_list",
        "expires_at",
        "status_badge",
        "budget",
        "last_used_at",
    ]
    list_filter = ["organization"]
    search_fields = ["name", "prefix", "user__username"]
    list_select_related = ["organization", "user"]
    readonly_fields = [
        "masked",
        "created_by",
        "created_at",
        "last_used_at",
        "revoked_at",
    ]
    actions = ["revoke_keys"]

    class Media:
        css = {"all": ["gateway/usage.css", "gateway/budgets.css"]}

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        active = Budget.objects.filter(is_active=True).select_related("organization")
        return (
            super()
            .get_queryset(request)
            .prefetch_related(Prefetch("budgets", active, to_attr="active_budgets"))
        )

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        fields = list(self.readonly_fields)
        if obj is not None:
            fields += ["organization", "user"]
        return fields

    @admin.display(description="budget")
    def budget(self, obj: ApiKey) -> SafeString:
        budgets = getattr(obj, "active_budgets", None)
        if budgets is None:
            budgets = list(obj.budgets.filter(is_active=True))
        if not budgets:
            return format_html('<span class="usage-sub">{}</span>', "none")
        budgets = sorted(budgets, key=lambda b: (PERIOD_ORDER.get(b.period, 9), b.pk))
        return format_html_join(
            "",
            '<span class="budget-line">{}<span class="budget-of">{} of {} · {}'
            "</span></span>",
            (
                (percent_meter(now), money(now.spent), money(b.amount), b.period)
                for b, now in zip(budgets, statuses(budgets), strict=True)
            ),
        )

    @admin.display(description="key")
    def masked(self, obj: ApiKey) -> str:
        return f"{obj.prefix}…" if obj.prefix else ""

    @admin.display(description="models")
    def allow_list(self, obj: ApiKey) -> str:
        return ", ".join(obj.allowed_models) if obj.allowed_models else "all visible"

    @admin.display(description="status")
    def status_badge(self, obj: ApiKey) -> SafeString:
        # A badge, not a boolean icon: a red ✖ read as trouble on healthy keys.
        state = (
            "revoked" if obj.is_revoked else "expired" if obj.is_expired else "active"
        )
        return format_html(
            '<span class="key-badge" data-state="{}">{}</span>', state, state
        )

    def save_model(
        self, request: HttpRequest, obj: ApiKey, form: Any, change: bool
    ) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        # The form's other fields (ApiKeyForm.Meta.fields) are the key's settings.
        fields = {
            name: getattr(obj, name)
            for name in (
                "allowed_models",
                "requests_per_minute",
                "tokens_per_minute",
                "expires_at",
            )
        }
        key, secret = ApiKey.issue(
            obj.organization,
            obj.user,
            obj.name,
            created_by=request.user,  # type: ignore[arg-type]  # the admin serves signed-in staff only: a User
            **fields,
        )
        # The admin goes on with the form's instance (log entry, the response).
        obj.pk = key.pk
        obj.refresh_from_db()
        request._new_api_key_secret = secret  # type: ignore[attr-defined]  # handed to response_add on this request

    def response_add(
        self, request: HttpRequest, obj: ApiKey, post_url_continue: Any = None
    ) -> HttpResponse:
        secret = getattr(request, "_new_api_key_secret", None)
        if secret is None:
            return super().response_add(request, obj, post_url_continue)
        return secret_shown_once(
            self, request, "gateway/apikey_created.html", "API key created", obj, secret
        )

    @admin.action(description="Revoke selected keys")
    def revoke_keys(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        count = sum(key.revoke() for key in queryset.filter(revoked_at__isnull=True))
        self.message_user(request, f"Revoked {count} key(s).", messages.SUCCESS)


class UsedByFilter(admin.SimpleListFilter):
    """Our keys' calls, or other organizations' calls on our providers."""

    title = "caller"
    parameter_name = "caller"

    def lookups(
        self, request: HttpRequest, model_admin: admin.ModelAdmin[Any]
    ) -> list[tuple[str, str]]:
        return [
            ("own", "our keys"),
            ("others", "other organizations, on our providers"),
        ]

    def queryset(
        self, request: HttpRequest, queryset: QuerySet[Any]
    ) -> QuerySet[Any] | None:
        ids = request_admin_org_ids(request)
        if self.value() == "own":
            return queryset.filter(organization_id__in=ids)
        if self.value() == "others":
            return queryset.filter(provider_organization_id__in=ids).exclude(
                organization_id__in=ids
            )
        return None


class OutcomeFilter(admin.SimpleListFilter):
    title = "outcome"
    parameter_name = "outcome"

    def lookups(
        self, request: HttpRequest, model_admin: admin.ModelAdmin[Any]
    ) -> list[tuple[str, str]]:
        return [
            ("ok", "succeeded"),
            ("client", "refused (4xx)"),
            ("upstream", "failed (5xx)"),
        ]

    def queryset(
        self, request: HttpRequest, queryset: QuerySet[Any]
    ) -> QuerySet[Any] | None:
        ranges = {"ok": (0, 399), "client": (400, 499), "upstream": (500, 999)}
        if self.value() in ranges:
            low, high = ranges[str(self.value())]
            return queryset.filter(status_code__gte=low, status_code__lte=high)
        return None


# The fields that say who, inside the calling organization, made a call.
# The caller's side of a row: shown only to the caller's organization.
CALLER_FIELDS = frozenset({"user", "api_key", "request_id"})


def _caller_side(model: type[Model], lookup: str) -> bool:
    """Whether a lookup starts at the caller's user or key (``user_id`` included)."""
    try:
        field = model._meta.get_field(lookup.split(LOOKUP_SEP, 1)[0])
    except FieldDoesNotExist:
        return False
    return field.name in CALLER_FIELDS


@admin.register(UsageRecord)
class UsageRecordAdmin(OrganizationScopedAdmin):
    """Read-only usage: the viewer's keys in full, and others' use of its providers.

    A row of another organization (it called one of the viewer's providers)
    shows that organization, but never its user or key names or its request
    id (``gateway.usage_export``); totals and the CSV export follow the list's
    filters and search.
    """

    list_display = [
        "created_at_display",
        "caller",
        "model_and_provider",
        "tokens",
        "cost_usd",
        "latency",
        "status_badge",
    ]
    list_filter = [
        UsedByFilter,
        "organization",
        OutcomeFilter,
        "source",
        "endpoint",
        "status_code",
    ]
    list_select_related = [
        "organization",
        "user",
        "api_key",
        "provider",
        "provider_organization",
    ]
    date_hierarchy = "created_at"
    list_per_page = 50
    # Searched by hand (get_search_results): names of users and keys only
    # within the viewer's own rows. Non-empty, so the admin shows the box.
    search_fields = ["model_name"]
    search_help_text = (
        "Model name, and user or key name of your own calls; "
        "or a request id of one of your calls (exact)."
    )
    fields = [
        "created_at",
        "organization",
        "user",
        "api_key",
        "provider_organization",
        "provider",
        "model",
        "model_name",
        "endpoint",
        "source",
        "stream",
        "input_tokens",
        "cache_read_tokens",
        "cache_creation_tokens",
        "output_tokens",
        "search_units",
        "usage_estimated",
        "cost",
        "latency_ms",
        "ttfb_ms",
        "status_code",
        "error_type",
        "request_id",
    ]

    class Media:
        css = {"all": ["gateway/usage.css"]}

    def scope_q(self, org_ids: frozenset[int]) -> Q:
        return Q(organization_id__in=org_ids) | Q(provider_organization_id__in=org_ids)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        # Whether the viewer sees the row in full, per request (the admin
        # instance is shared by every request: nothing per viewer is kept on it).
        own = self.own_ids(request)
        viewer_owns = (
            Value(True)
            if own is None
            else Case(
                When(organization_id__in=own, then=Value(True)),
                default=Value(False),
                output_field=BooleanField(),
            )
        )
        rows: QuerySet[Any] = super().get_queryset(request)
        annotated: QuerySet[Any] = rows.annotate(viewer_owns=viewer_owns)
        return annotated

    def may_manage(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is None or is_superuser(request):
            return super().may_manage(request, obj)
        ids = request_admin_org_ids(request)
        return obj.organization_id in ids or obj.provider_organization_id in ids

    def own_ids(self, request: HttpRequest) -> frozenset[int] | None:
        """The organizations whose rows the viewer sees in full (None: all)."""
        return None if is_superuser(request) else request_admin_org_ids(request)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = list(self.fields)
        if obj is not None and not is_own(obj.organization_id, self.own_ids(request)):
            fields = [f for f in fields if f not in CALLER_FIELDS]
        return fields

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest) -> bool:
        """Django's rule, and no lookup on the caller's user or key but a superuser's.

        The list holds other organizations' calls on the viewer's providers:
        ``?user=<id>``, ``?api_key__isnull=True`` or ``?user__gt=<id>`` would
        split those rows by who made them (the columns hide it). Refused like
        any disallowed lookup (400), on the list, its totals and the export.
        """
        if not is_superuser(request) and _caller_side(self.model, lookup):
            return False
        return super().lookup_allowed(lookup, value, request)

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Any], search_term: str
    ) -> tuple[QuerySet[Any], bool]:
        own = self.own_ids(request)
        terms = [
            unescape_string_literal(term) if term[:1] in "\"'" else term
            for term in smart_split(search_term)
        ]
        if len(terms) == 1:
            term = terms[0]
            # A request id someone quotes finds that call alone (one indexed
            # lookup), and only among the viewer's own calls.
            calls = queryset.filter(request_id=term)
            if own is not None:
                calls = calls.filter(organization_id__in=own)
            if is_sane(term) and calls.exists():
                return calls, False
        for term in terms:
            names = Q(api_key__name__icontains=term) | Q(user__username__icontains=term)
            if own is not None:
                names &= Q(organization_id__in=own)
            queryset = queryset.filter(Q(model_name__icontains=term) | names)
        return queryset, False

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        response = super().changelist_view(request, extra_context)
        context = getattr(response, "context_data", None)
        if context and "cl" in context:
            sums = totals(context["cl"].queryset)
            context["usage_totals"] = {
                "requests": f"{sums.requests:,}",
                "input_tokens": f"{sums.input_tokens:,}",
                "output_tokens": f"{sums.output_tokens:,}",
                "errors": f"{sums.errors:,}",
            }
            context["usage_totals_cost"] = money(sums.cost)
            context["usage_export_query"] = request.GET.urlencode()
        return response

    def get_urls(self) -> list[URLPattern]:
        export = path(
            "export.csv",
            self.admin_site.admin_view(self.export_view),
            name="gateway_usagerecord_export",
        )
        return [export, *super().get_urls()]

    def export_view(self, request: HttpRequest) -> HttpResponseBase:
        """The list's filtered set as CSV (the same filters, search and scope)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            cl = self.get_changelist_instance(request)
        except IncorrectLookupParameters:
            # What the list does with the same query string (a stale or edited
            # link): back to the unfiltered list, flagged, never a 500.
            name = f"{self.admin_site.name}:gateway_usagerecord_changelist"
            return HttpResponseRedirect(f"{reverse(name)}?{ERROR_FLAG}=1")
        rows = cl.queryset
        own = self.own_ids(request)
        body = (
            acsv_rows(rows, own)
            if isinstance(request, ASGIRequest)
            else csv_rows(rows, own)
        )
        response = StreamingHttpResponse(body, content_type="text/csv; charset=utf-8")
        stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
        response["Content-Disposition"] = f'attachment; filename="usage-{stamp}.csv"'
        response["Cache-Control"] = "no-store"
        return response

    @admin.display(description="time (UTC) / request id", ordering="created_at")
    def created_at_display(self, obj: UsageRecord) -> SafeString:
        # The id under the time: a column of its own does not fit a laptop's
        # screen beside the others (tests/portal/test_browser_usage.py).
        shown = obj.request_id if getattr(obj, "viewer_owns", False) else ""
        return format_html(
            '{}<span class="usage-sub usage-request-id">{}</span>',
            f"{obj.created_at:%Y-%m-%d %H:%M}",
            shown,
        )

    @admin.display(description="caller", ordering="organization__name")
    def caller(self, obj: UsageRecord) -> SafeString:
        if not getattr(obj, "viewer_owns", False):
            return format_html(
                '{}<span class="usage-sub usage-foreign">on your provider</span>',
                obj.organization.name,
            )
        who = obj.user.username if obj.user else "service key"
        key = obj.api_key.name if obj.api_key else obj.get_source_display()
        return format_html(
            '{}<span class="usage-sub">{} · {}</span>', obj.organization.name, who, key
        )

    @admin.display(description="model", ordering="model_name")
    def model_and_provider(self, obj: UsageRecord) -> SafeString:
        provider = obj.provider.name if obj.provider else "deleted provider"
        marks = [provider, obj.endpoint]
        if obj.stream:
            marks.append("stream")
        if obj.source != UsageRecord.Source.API:
            marks.append(obj.get_source_display().lower())
        return format_html(
            '{}<span class="usage-sub">{}</span>', obj.model_name, " · ".join(marks)
        )

    @admin.display(description="tokens in / out")
    def tokens(self, obj: UsageRecord) -> SafeString:
        estimated = " (est.)" if obj.usage_estimated else ""
        cached = [
            f"{count:,} {what}"
            for count, what in (
                (obj.cache_read_tokens, "cache read"),
                (obj.cache_creation_tokens, "cache write"),
                (obj.search_units, "search units"),
            )
            if count
        ]
        return format_html(
            "{} / {}{}{}",
            f"{obj.input_tokens:,}",
            f"{obj.output_tokens:,}",
            estimated,
            format_html('<span class="usage-sub">in: {}</span>', " · ".join(cached))
            if cached
            else "",
        )

    @admin.display(description="cost", ordering="cost")
    def cost_usd(self, obj: UsageRecord) -> str:
        return money(obj.cost)

    @admin.display(description="latency", ordering="latency_ms")
    def latency(self, obj: UsageRecord) -> str:
        return f"{obj.latency_ms:,} ms"

    @admin.display(description="status", ordering="status_code")
    def status_badge(self, obj: UsageRecord) -> SafeString:
        code = obj.status_code
        kind = "ok" if code < 400 else "client" if code < 500 else "upstream"
        badge = format_html(
            '<span class="usage-badge" data-outcome="{}">{}</span>', kind, code
        )
        if not obj.error_type:
            return badge
        return format_html('{}<span class="usage-sub">{}</span>', badge, obj.error_type)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


import gateway.budgets.admin  # noqa: E402, F401  (registers BudgetAdmin)
from gateway.budgets import alerts_admin  # noqa: E402, F401  # registers the alert admins
