"""The model list's parts: readable prices and windows, the status badge, bulk status.

``set_status`` is the one way the list changes many models' status: saved one
by one, so the gateway's caches hear of each change.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.utils.html import format_html

from models_catalog.models import AIModel

if TYPE_CHECKING:
    from django.http import HttpRequest


def usd(value: Decimal) -> str:
    """A per-million price as dollars: cents at least, up to six decimals."""
    text = f"{value:.6f}".rstrip("0")
    whole, _, cents = text.partition(".")
    return f"${whole}.{cents.ljust(2, '0')}"


def cache_prices(model: AIModel) -> str:
    """The model's cache prices as a line under its prices ("" when it has none).

    A missing one is left out: those tokens are billed at the input price.
    """
    parts = [
        f"{what} {usd(price)}"
        for what, price in (
            ("read", model.cache_read_cost_per_million),
            ("write", model.cache_write_cost_per_million),
        )
        if price is not None
    ]
    if not parts:
        return ""
    return format_html('<span class="mg-cache-price">cache {}</span>', ", ".join(parts))


def tokens(value: int | None) -> str:
    if not value:
        return "—"
    if value >= 1_000_000:
        return f"{value / 1_000_000:.3g}M"
    if value >= 100_000 or value % 1000 == 0:
        return f"{round(value / 1000)}k"
    return f"{value:,}"


class StatusListForm(forms.ModelForm[AIModel]):
    """The list's editable status, drawn as a badge (models_admin.css)."""

    class Meta:
        model = AIModel
        fields = ["status"]
        widgets = {
            "status": forms.Select(attrs={"class": "mg-status", "aria-label": "Status"})
        }


def set_status(queryset: QuerySet[AIModel], status: str) -> list[AIModel]:
    """Give each model of ``queryset`` the status; returns the ones changed.

    Saved one by one (not ``update()``), so the gateway's caches hear of each.
    """
    changed = []
    for model in queryset.exclude(status=status).select_related("provider"):
        model.status = status
        model.save(update_fields=["status", "updated_at"])
        changed.append(model)
    return changed


def status_action(status: str, verb: str) -> Callable[..., None]:
    def action(
        modeladmin: admin.ModelAdmin[AIModel],
        request: HttpRequest,
        queryset: QuerySet[AIModel],
    ) -> None:
        # The queryset is the admin's own (scoped): only rows the admin may change.
        changed = set_status(queryset, status)
        note = ""
        if status == AIModel.Status.ACTIVE:
            unroutable = [
                m.model_id
                for m in changed
                if m.missing_since or m.provider.status != "active"
            ]
            if unroutable:
                note = (
                    f" Not callable yet: {', '.join(unroutable[:5])} (its provider "
                    "is inactive or the vendor no longer lists it)."
                )
        modeladmin.message_user(
            request,
            f"{verb} {len(changed)} model{'s' if len(changed) != 1 else ''}." + note,
            messages.SUCCESS,
        )

    action.__name__ = f"mark_{status}"
    return admin.action(
        description=f"{verb[:-1]} selected models", permissions=["change"]
    )(action)
