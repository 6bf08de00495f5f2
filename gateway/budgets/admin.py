"""Admin for budgets: scoped to the admin's organizations, with current spend.

The target choices are the targets of the organizations the budget may
belong to (``gateway.budgets.targets``): the budget's own once it exists, the
one asked for with ``?organization=<id>`` or the admin's only one on a new
budget, else all the admin's; ``BudgetForm`` then checks the target against
the organization chosen. ``static/gateway/budgetform.js`` shows only the
target field the chosen scope uses.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.admin.widgets import AdminSplitDateTime
from django.db import models
from django.db.models import ForeignKey
from django.forms import ModelChoiceField
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.safestring import SafeString

from accounts.access import OrganizationScopedAdmin, is_superuser, request_admin_org_ids
from gateway.budgets import targets
from gateway.budgets.display import money, percent_meter
from gateway.budgets.forms import BudgetForm
from gateway.budgets.status import BudgetStatus, status
from gateway.models import Budget

_STATUS_ATTR = "_budget_status"
_TARGETS = {
    "user": targets.users_for,
    "api_key": targets.api_keys_for,
    "model": targets.models_for,
    "provider": targets.providers_for,
}


class LabelledSplitDateTime(AdminSplitDateTime):
    """The admin's date and time inputs, each with a name of its own (the one
    ``<label>`` names only the first)."""

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs)
        self.widgets[0].attrs["aria-label"] = "Start date"
        self.widgets[1].attrs["aria-label"] = "Start time"


def _status(obj: Budget) -> BudgetStatus:
    """The row's status, computed once per row (one aggregate query)."""
    found: BudgetStatus | None = getattr(obj, _STATUS_ATTR, None)
    if found is None:
        found = status(obj)
        setattr(obj, _STATUS_ATTR, found)
    return found


@admin.register(Budget)
class BudgetAdmin(OrganizationScopedAdmin):
    form = BudgetForm
    list_display = [
        "target",
        "organization",
        "limit",
        "period_shown",
        "spent",
        "used",
        "active",
    ]
    list_display_links = ["target"]
    list_filter = ["organization", "scope", "period", "is_active"]
    list_select_related = ["organization", "user", "api_key", "model", "provider"]
    search_fields = [
        "user__username",
        "api_key__name",
        "model__model_id",
        "provider__name",
    ]
    readonly_fields = ["current_spend", "created_at", "updated_at"]
    formfield_overrides = {  # Django's own attribute, a plain dict
        models.DateTimeField: {
            "form_class": forms.SplitDateTimeField,
            "widget": LabelledSplitDateTime,
        }
    }
    fieldsets = [
        (None, {"fields": ["organization", "scope"]}),
        (
            "What it limits",
            {
                "fields": ["user", "api_key", "model", "provider"],
                "description": "Only the one the scope names (none for the "
                "whole organization).",
            },
        ),
        (
            "Limit",
            {
                "fields": [
                    "amount",
                    "period",
                    "starts_at",
                    "alert_thresholds",
                    "is_active",
                ]
            },
        ),
        ("Now", {"fields": ["current_spend", "created_at", "updated_at"]}),
    ]

    class Media:
        css = {"all": ["gateway/usage.css", "gateway/budgets.css"]}
        js = ["gateway/budgetform.js"]

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:  # nothing spent yet
            return self.fieldsets[:-1]
        return self.fieldsets

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        fields = list(self.readonly_fields)
        if obj is not None:
            fields.append("organization")
        return fields

    def target_org_ids(self, request: HttpRequest) -> list[int] | None:
        """The organizations whose targets the form offers (None: every one)."""
        budget = getattr(request, "_budget_being_edited", None)
        if budget is not None:
            return [budget.organization_id]
        admin_ids = None if is_superuser(request) else request_admin_org_ids(request)
        asked = request.GET.get("organization", "")
        if (
            asked.isascii()
            and asked.isdigit()
            and (admin_ids is None or int(asked) in admin_ids)
        ):
            return [int(asked)]
        if admin_ids is not None:
            return sorted(admin_ids)
        return None

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        request._budget_being_edited = obj  # type: ignore[attr-defined]  # read by formfield_for_foreignkey on this request
        return super().get_form(request, obj, change, **kwargs)

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        initial = super().get_changeform_initial_data(request)
        ids = self.target_org_ids(request)
        if ids is not None and len(ids) == 1:
            initial.setdefault("organization", str(ids[0]))
        return initial

    def formfield_for_foreignkey(
        self, db_field: ForeignKey[Any, Any], request: HttpRequest, **kwargs: Any
    ) -> ModelChoiceField[Any] | None:
        finder = _TARGETS.get(db_field.name)
        if finder is not None:
            kwargs["queryset"] = finder(self.target_org_ids(request))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    @admin.display(description="active", boolean=True, ordering="is_active")
    def active(self, obj: Budget) -> bool:
        return obj.is_active

    @admin.display(description="limits", ordering="scope")
    def target(self, obj: Budget) -> str:
        return obj.target_label()

    @admin.display(description="limit (USD)", ordering="amount")
    def limit(self, obj: Budget) -> str:
        return money(obj.amount)

    @admin.display(description="period", ordering="period")
    def period_shown(self, obj: Budget) -> SafeString:
        return format_html(
            '{}<span class="usage-sub">{}</span>',
            obj.get_period_display(),
            _status(obj).period_label,
        )

    @admin.display(description="spent")
    def spent(self, obj: Budget) -> str:
        return money(_status(obj).spent)

    @admin.display(description="used")
    def used(self, obj: Budget) -> SafeString:
        return percent_meter(_status(obj))

    @admin.display(description="current period")
    def current_spend(self, obj: Budget) -> SafeString:
        if obj.pk is None:
            return format_html("{}", "—")
        now = _status(obj)
        return format_html(
            "{} of {} spent ({}) {}",
            money(now.spent),
            money(now.amount),
            now.period_label,
            percent_meter(now),
        )
