"""Management tokens in the admin: an organization's admins list, create and
revoke their organization's tokens (scoped like every admin page,
``accounts.access.OrganizationScopedAdmin``). The secret is shown once on the
page after creation, as for API keys; the hash is never shown. A token acts for
the admin who creates it."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from accounts.access import OrganizationScopedAdmin, is_superuser
from api.models import ManagementToken
from gateway.secret_page import secret_shown_once

SHOWN = ("name", "organization", "role", "expires_at")


@admin.register(ManagementToken)
class ManagementTokenAdmin(OrganizationScopedAdmin):
    fields = SHOWN
    list_display = [
        "name",
        "organization",
        "user",
        "role",
        "masked",
        "expires_at",
        "status",
        "last_used_at",
    ]
    list_filter = ["organization", "role"]
    search_fields = ["name", "prefix", "user__username"]
    list_select_related = ["organization", "user"]
    actions = ["revoke_tokens"]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        if obj is None:
            return SHOWN
        return (*SHOWN, "user", "masked", "status", "created_at", "last_used_at")

    def get_readonly_fields(
        self, request: HttpRequest, obj: Any = None
    ) -> tuple[str, ...]:
        # A token is not edited: revoke it and create another.
        return () if obj is None else self.get_fields(request, obj)

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        form = super().get_form(request, obj, change, **kwargs)
        if obj is None and not is_superuser(request):
            # Only a superuser's token may act across organizations.
            form.base_fields["organization"].required = True
        return form

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # revoked, not deleted: the list keeps who had access

    @admin.display(description="token")
    def masked(self, obj: ManagementToken) -> str:
        return f"{obj.prefix}…" if obj.prefix else ""

    @admin.display(description="status")
    def status(self, obj: ManagementToken) -> str:
        if obj.revoked_at is not None:
            return "revoked"
        expired = obj.expires_at is not None and obj.expires_at <= timezone.now()
        return "expired" if expired else "active"

    def save_model(
        self, request: HttpRequest, obj: ManagementToken, form: Any, change: bool
    ) -> None:
        if change:
            return  # nothing is editable
        token, secret = ManagementToken.issue(
            obj.organization,
            request.user,  # type: ignore[arg-type]  # the admin serves signed-in staff only: a User
            obj.name,
            obj.role,
            obj.expires_at,
        )
        obj.pk = token.pk
        obj.refresh_from_db()
        request._new_management_token_secret = secret  # type: ignore[attr-defined]  # handed to response_add on this request

    def response_add(
        self, request: HttpRequest, obj: ManagementToken, post_url_continue: Any = None
    ) -> HttpResponse:
        secret = getattr(request, "_new_management_token_secret", None)
        if secret is None:
            return super().response_add(request, obj, post_url_continue)
        return secret_shown_once(
            self,
            request,
            "api/managementtoken_created.html",
            "Management token created",
            obj,
            secret,
        )

    @admin.action(description="Revoke selected tokens")
    def revoke_tokens(
        self, request: HttpRequest, queryset: QuerySet[ManagementToken]
    ) -> None:
        count = sum(t.revoke() for t in queryset.filter(revoked_at__isnull=True))
        self.message_user(request, f"Revoked {count} token(s).", messages.SUCCESS)
