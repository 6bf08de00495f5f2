"""The Invitation admin: org admins invite by email with a role, and follow up.

Scoped like every tenant admin (``OrganizationScopedAdmin``): an org admin
lists, revokes and resends the invitations of the organizations they
administer, and invites only into those. An invitation is not edited once
sent (revoke and invite again); the token is never shown, only its status.
Registered from ``accounts/admin.py``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import admin, messages
from django.db.models import Q, QuerySet
from django.utils import timezone

from accounts import invitations
from accounts.access import OrganizationScopedAdmin, is_superuser, request_admin_org_ids
from accounts.models import Invitation, Membership

if TYPE_CHECKING:
    from django.http import HttpRequest

ALREADY_MEMBER = "A member of this organization already has this email address."


class InvitationForm(forms.ModelForm[Invitation]):
    class Meta:
        model = Invitation
        fields = ["organization", "email", "role"]

    def clean(self) -> dict[str, Any]:
        super().clean()
        org = self.cleaned_data.get("organization")
        email = self.cleaned_data.get("email")
        if org is not None and email:
            email = invitations.normalize_email(email)
            self.cleaned_data["email"] = email
            if Membership.objects.filter(
                organization=org, user__email__iexact=email
            ).exists():
                self.add_error("email", ALREADY_MEMBER)
        return self.cleaned_data


class StatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(
        self, request: HttpRequest, model_admin: admin.ModelAdmin[Any]
    ) -> list[tuple[str, str]]:
        return [(s.value, str(s.label)) for s in Invitation.Status]

    def queryset(
        self, request: HttpRequest, queryset: QuerySet[Any]
    ) -> QuerySet[Any] | None:
        now = timezone.now()
        is_open = Q(accepted_at__isnull=True, revoked_at__isnull=True)
        conditions: dict[str, Q] = {
            Invitation.Status.PENDING: is_open & Q(expires_at__gt=now),
            Invitation.Status.EXPIRED: is_open & Q(expires_at__lte=now),
            Invitation.Status.ACCEPTED: Q(accepted_at__isnull=False),
            Invitation.Status.REVOKED: Q(
                accepted_at__isnull=True, revoked_at__isnull=False
            ),
        }
        condition = conditions.get(str(self.value()))
        return queryset.filter(condition) if condition is not None else None


class InvitationAdmin(OrganizationScopedAdmin):
    form = InvitationForm
    list_display = [
        "email",
        "organization",
        "role",
        "status",
        "invited_by",
        "expires_at",
    ]
    list_filter = [StatusFilter, "role", "organization"]
    list_select_related = ["organization", "invited_by"]
    search_fields = ["email"]
    actions = ["resend_invitations", "revoke_invitations"]
    shown = [
        "organization",
        "email",
        "role",
        "status",
        "invited_by",
        "created_at",
        "expires_at",
        "accepted_at",
        "accepted_by",
        "revoked_at",
    ]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[Any]:
        return list(self.shown) if obj else ["organization", "email", "role"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return list(self.shown) if obj else []

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        initial = super().get_changeform_initial_data(request)
        ids = request_admin_org_ids(request)
        if len(ids) == 1 and not is_superuser(request):
            initial.setdefault("organization", str(next(iter(ids))))
        return initial

    def save_model(
        self, request: HttpRequest, obj: Invitation, form: Any, change: bool
    ) -> None:
        """Sending, not saving: ``invitations.invite`` creates (or replaces) the row."""
        sent = invitations.invite(
            obj.organization,
            obj.email,
            obj.role,
            invited_by=request.user if request.user.is_authenticated else None,
            base_url=request.build_absolute_uri("/"),
        )
        obj.pk = sent.pk
        obj.refresh_from_db()

    # Sent invitations are not edited: revoke and invite again.
    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return is_superuser(request)

    @admin.display(description="status")
    def status(self, obj: Invitation) -> str:
        return str(Invitation.Status(obj.status).label)

    @admin.action(description="Resend the selected invitations (a new link)")
    def resend_invitations(
        self, request: HttpRequest, queryset: QuerySet[Invitation]
    ) -> None:
        base_url = request.build_absolute_uri("/")
        sent = sum(invitations.resend(inv, base_url) for inv in queryset)
        skipped = queryset.count() - sent
        self.message_user(request, f"Sent {sent} invitation(s) again.")
        if skipped:
            self.message_user(
                request,
                f"{skipped} accepted or revoked invitation(s) were not sent.",
                messages.WARNING,
            )

    @admin.action(description="Revoke the selected invitations")
    def revoke_invitations(
        self, request: HttpRequest, queryset: QuerySet[Invitation]
    ) -> None:
        revoked = sum(invitations.revoke(inv) for inv in queryset)
        self.message_user(request, f"Revoked {revoked} invitation(s).")


admin.site.register(Invitation, InvitationAdmin)
