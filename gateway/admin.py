"""Admin for API keys (secret shown once, at creation) and usage (read-only)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from accounts.access import OrganizationScopedAdmin
from gateway.forms import ApiKeyForm
from gateway.models import ApiKey, UsageRecord


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
        "revoked",
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

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        fields = list(self.readonly_fields)
        if obj is not None:
            fields += ["organization", "user"]
        return fields

    @admin.display(description="key")
    def masked(self, obj: ApiKey) -> str:
        return f"{obj.prefix}…" if obj.prefix else ""

    @admin.display(description="models")
    def allow_list(self, obj: ApiKey) -> str:
        return ", ".join(obj.allowed_models) if obj.allowed_models else "all visible"

    @admin.display(boolean=True)
    def revoked(self, obj: ApiKey) -> bool:
        return obj.is_revoked

    def save_model(
        self, request: HttpRequest, obj: ApiKey, form: Any, change: bool
    ) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        # The form's other fields (ApiKeyForm.Meta.fields) are the key's settings.
        fields = {
            name: getattr(obj, name)
            for name in ("allowed_models", "requests_per_minute", "expires_at")
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
        # Render the secret once, on this response only: never via a redirect,
        # the session or a message cookie.
        secret = getattr(request, "_new_api_key_secret", None)
        if secret is None:
            return super().response_add(request, obj, post_url_continue)
        context = {
            **self.admin_site.each_context(request),
            "title": "API key created",
            "key": obj,
            "secret": secret,
            "opts": self.model._meta,
        }
        response = TemplateResponse(request, "gateway/apikey_created.html", context)
        response["Cache-Control"] = "no-store"
        return response

    @admin.action(description="Revoke selected keys")
    def revoke_keys(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        count = sum(key.revoke() for key in queryset.filter(revoked_at__isnull=True))
        self.message_user(request, f"Revoked {count} key(s).", messages.SUCCESS)


@admin.register(UsageRecord)
class UsageRecordAdmin(OrganizationScopedAdmin):
    list_display = [
        "created_at",
        "organization",
        "user",
        "api_key",
        "source",
        "model_name",
        "provider",
        "endpoint",
        "stream",
        "input_tokens",
        "output_tokens",
        "cost",
        "latency_ms",
        "status_code",
        "error_type",
    ]
    list_filter = ["organization", "source", "endpoint", "status_code", "stream"]
    search_fields = ["model_name", "api_key__name", "user__username"]
    list_select_related = ["organization", "user", "api_key", "provider"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
