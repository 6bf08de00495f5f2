"""Admin for where spend alerts go (AlertSettings) and what was sent (read-only).

The webhook secret is generated when a URL is first saved, and again by the
"rotate" action; either way it is shown on that one response
(``secret_shown_once``) and never again: the list and the form say only
whether one is configured. Imported by ``gateway.admin``.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse

from accounts.access import OrganizationScopedAdmin
from gateway.budgets.alert_forms import AlertSettingsForm
from gateway.budgets.models import AlertSent, AlertSettings
from gateway.budgets.webhooks import ensure_secret, rotate_secret
from gateway.secret_page import secret_shown_once

SECRET_PAGE = "gateway/webhook_secret_created.html"
SECRET_TITLE = "Webhook secret"


@admin.register(AlertSettings)
class AlertSettingsAdmin(OrganizationScopedAdmin):
    form = AlertSettingsForm
    list_display = [
        "organization",
        "email_admins",
        "webhook_url",
        "secret_state",
        "daily_digest",
        "spike_alerts",
        "spike_factor",
    ]
    list_select_related = ["organization"]
    search_fields = ["organization__name", "webhook_url"]
    readonly_fields = ["secret_state"]
    actions = ["rotate_webhook_secret"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        fields = list(self.readonly_fields)
        if obj is not None:
            fields.append("organization")
        return fields

    @admin.display(description="webhook secret")
    def secret_state(self, obj: AlertSettings) -> str:
        return "configured" if obj.is_configured("webhook_secret") else "not set"

    def save_model(
        self, request: HttpRequest, obj: AlertSettings, form: Any, change: bool
    ) -> None:
        secret = ensure_secret(obj)
        super().save_model(request, obj, form, change)
        if secret:
            request._new_webhook_secret = secret  # type: ignore[attr-defined]  # handed to the response on this request

    def _secret_page(self, request: HttpRequest, obj: AlertSettings) -> Any:
        secret = getattr(request, "_new_webhook_secret", None)
        if secret is None:
            return None
        return secret_shown_once(self, request, SECRET_PAGE, SECRET_TITLE, obj, secret)

    def response_add(
        self, request: HttpRequest, obj: AlertSettings, post_url_continue: Any = None
    ) -> HttpResponse:
        page = self._secret_page(request, obj)
        return page or super().response_add(request, obj, post_url_continue)

    def response_change(self, request: HttpRequest, obj: AlertSettings) -> HttpResponse:
        page = self._secret_page(request, obj)
        return page or super().response_change(request, obj)

    @admin.action(description="Rotate the webhook secret (shown once)")
    def rotate_webhook_secret(
        self, request: HttpRequest, queryset: QuerySet[AlertSettings]
    ) -> HttpResponse | None:
        rows = list(queryset.select_related("organization")[:2])
        if len(rows) != 1 or not rows[0].webhook_url:
            self.message_user(
                request,
                "Select one organization's settings, with a webhook URL.",
                messages.ERROR,
            )
            return None
        config = rows[0]
        secret = rotate_secret(config)
        return secret_shown_once(
            self, request, SECRET_PAGE, SECRET_TITLE, config, secret
        )


@admin.register(AlertSent)
class AlertSentAdmin(OrganizationScopedAdmin):
    list_display = [
        "sent_at",
        "organization",
        "kind",
        "budget",
        "threshold",
        "period_start",
        "spend",
        "webhook_status",
    ]
    list_filter = ["kind", "organization"]
    search_fields = ["organization__name", "webhook_status"]
    list_select_related = ["organization", "budget"]
    date_hierarchy = "sent_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
