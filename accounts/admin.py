"""Admin for organizations, memberships and users.

Org admins manage their organizations' objects in the Django admin. Permission
comes from the ``Membership`` role (``accounts.access``), not from Django's
per-model permissions: superusers see everything, an org admin sees and
manages what their organizations own, everyone else sees nothing. The scoped
base every app's admin uses lives in ``accounts.access``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db import transaction
from django.db.models import Count, Q, QuerySet
from django.forms import BaseInlineFormSet

# Registers the Invitation admin (a module of its own).
import accounts.invitations_admin  # noqa: F401
from accounts.access import (
    OrganizationScopedAdmin,
    administers,
    is_superuser,
    request_admin_org_ids,
)
from accounts.last_admin import (
    guarded_delete_actions,
    last_admin_message,
    memberships_of,
    orphaned_organizations,
    refuse_orphaning_delete,
    user_memberships,
)
from accounts.models import Membership, Organization, User

if TYPE_CHECKING:
    from django.forms import ModelForm
    from django.http import HttpRequest, HttpResponse


def demotion_error(m: Membership, cleaned_data: dict[str, Any]) -> str | None:
    """Why saving ``cleaned_data`` on membership ``m`` is refused, if it takes
    the organization's last admin (demoted, or moved elsewhere)."""
    if m.pk is None:
        return None
    role = cleaned_data.get("role", m.role)
    org = cleaned_data.get("organization")
    moved = org is not None and org.pk != m.organization_id
    if administers(role) and not moved:
        return None
    orphaned = orphaned_organizations([m])
    return last_admin_message(orphaned) if orphaned else None


class MembershipForm(forms.ModelForm[Membership]):
    """A superuser's membership form: attaches any active user by username.

    Only superusers attach existing users directly (DESIGN.md: joining takes
    consent); org admins invite instead (``accounts.invitations``). The user is
    named by username so no list of the instance's users is shown.
    """

    # The organization inline checks its whole formset instead (a promotion
    # in the same save keeps the organization administered).
    checks_last_admin = True
    user = forms.CharField(
        max_length=150,
        label="Username",
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )

    class Meta:
        model = Membership
        fields = ["user", "organization", "role"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk and self.instance.user_id:
            self.initial["user"] = self.instance.user.username

    def clean_user(self) -> User:
        username = self.cleaned_data["user"].strip()
        user = User.objects.filter(username=username, is_active=True).first()
        if user is None:
            raise forms.ValidationError("There is no active user with that name.")
        return user

    def clean(self) -> dict[str, Any]:
        # ModelForm.clean() returns cleaned_data itself (its stub says "or None").
        super().clean()
        error = self.checks_last_admin and demotion_error(
            self.instance, self.cleaned_data
        )
        if error:
            self.add_error("role", error)
        return self.cleaned_data


class MemberRoleForm(forms.ModelForm[Membership]):
    """An org admin's membership form: the role of an existing member, nothing else."""

    checks_last_admin = True

    class Meta:
        model = Membership
        fields = ["role"]

    def clean(self) -> dict[str, Any]:
        super().clean()
        error = self.checks_last_admin and demotion_error(
            self.instance, self.cleaned_data
        )
        if error:
            self.add_error("role", error)
        return self.cleaned_data


def membership_form_for(request: HttpRequest) -> type[forms.ModelForm[Membership]]:
    """Superusers name any user; org admins change the role of members only."""
    return MembershipForm if is_superuser(request) else MemberRoleForm


class MembershipInlineFormSet(BaseInlineFormSet[Membership, Organization, Any]):
    """The members of one organization; the save may not leave it without an admin."""

    def clean(self) -> None:
        super().clean()
        leaving: list[Membership] = []
        promoted: list[Membership] = []
        for form in self.forms:
            if not hasattr(form, "cleaned_data"):
                continue
            m = form.instance
            if self.can_delete and form.cleaned_data.get("DELETE"):
                leaving.append(m)
            elif administers(form.cleaned_data.get("role", m.role)):
                promoted.append(m)
            else:
                leaving.append(m)
        orphaned = orphaned_organizations(leaving, promoted)
        if orphaned:
            raise forms.ValidationError(last_admin_message(orphaned))


class MembershipInline(admin.TabularInline[Membership, Organization]):
    model = Membership
    formset = MembershipInlineFormSet
    fields = ["user", "role", "created_at"]
    extra = 0

    def get_queryset(self, request: HttpRequest) -> QuerySet[Membership]:
        return super().get_queryset(request).select_related("user")

    def get_readonly_fields(
        self, request: HttpRequest, obj: Organization | None = None
    ) -> list[str]:
        return ["created_at"] if is_superuser(request) else ["user", "created_at"]

    def get_formset(
        self, request: HttpRequest, obj: Organization | None = None, **kwargs: Any
    ) -> type[BaseInlineFormSet[Membership, Organization, ModelForm[Membership]]]:
        form = membership_form_for(request)
        kwargs["form"] = type(form.__name__, (form,), {"checks_last_admin": False})
        return super().get_formset(request, obj, **kwargs)

    def _may_manage(self, request: HttpRequest, obj: Organization | None) -> bool:
        if is_superuser(request):
            return True
        ids = request_admin_org_ids(request)
        return bool(ids) if obj is None else obj.pk in ids

    def has_view_permission(
        self, request: HttpRequest, obj: Organization | None = None
    ) -> bool:
        return self._may_manage(request, obj)

    def has_add_permission(
        self, request: HttpRequest, obj: Organization | None = None
    ) -> bool:
        # Org admins invite (the Invitation admin); only operators attach users.
        return is_superuser(request)

    def has_change_permission(
        self, request: HttpRequest, obj: Organization | None = None
    ) -> bool:
        return self._may_manage(request, obj)

    def has_delete_permission(
        self, request: HttpRequest, obj: Organization | None = None
    ) -> bool:
        return self._may_manage(request, obj)


@admin.register(Organization)
class OrganizationAdmin(OrganizationScopedAdmin):
    list_display = ["name", "slug", "member_count", "created_at"]
    search_fields = ["name", "slug"]
    inlines = [MembershipInline]

    def scope_q(self, org_ids: frozenset[int]) -> Q:
        return Q(pk__in=org_ids)

    def organization_id_of(self, obj: Organization) -> int | None:
        return getattr(obj, "pk", None)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Organization]:
        orgs: QuerySet[Organization] = super().get_queryset(request)
        return orgs.annotate(member_count=Count("memberships", distinct=True))

    def get_readonly_fields(
        self, request: HttpRequest, obj: Organization | None = None
    ) -> list[str]:
        # The slug names the tenant in URLs and config; only operators rename it.
        return [] if is_superuser(request) else ["slug"]

    def get_prepopulated_fields(
        self, request: HttpRequest, obj: Organization | None = None
    ) -> dict[str, Sequence[str]]:
        return {"slug": ("name",)} if is_superuser(request) else {}

    # Creating or deleting a tenant is an operator's job.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return is_superuser(request)

    def has_delete_permission(
        self, request: HttpRequest, obj: Organization | None = None
    ) -> bool:
        return is_superuser(request)

    @admin.display(description="members", ordering="member_count")
    def member_count(self, obj: Organization) -> int:
        return int(getattr(obj, "member_count", 0))


@admin.register(Membership)
class MembershipAdmin(OrganizationScopedAdmin):
    list_display = ["user", "organization", "role", "created_at"]
    list_filter = ["role", ("organization", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["user", "organization"]
    search_fields = ["user__username", "user__email", "organization__name"]

    def get_form(
        self,
        request: HttpRequest,
        obj: Membership | None = None,
        change: bool = False,
        **kwargs: Any,
    ) -> type[ModelForm[Membership]]:
        kwargs["form"] = membership_form_for(request)
        return super().get_form(request, obj, change=change, **kwargs)

    def get_readonly_fields(
        self, request: HttpRequest, obj: Membership | None = None
    ) -> list[str]:
        if is_superuser(request):
            return []
        return ["user", "organization", "created_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Org admins invite (the Invitation admin); only operators attach users.
        return is_superuser(request)

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        return guarded_delete_actions(super().get_actions(request), memberships_of)

    def delete_view(
        self, request: HttpRequest, object_id: str, extra_context: Any = None
    ) -> HttpResponse:
        with transaction.atomic():
            return refuse_orphaning_delete(
                self, request, object_id, memberships_of
            ) or super().delete_view(request, object_id, extra_context)


@admin.register(User)
class UserAdmin(DjangoUserAdmin[User]):
    """All users of the instance: operators (superusers) only.

    Deleting the last admin of an organization is refused like removing their
    membership; deactivating them is not (an operator locking out a
    compromised account must never be blocked).
    """

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        return guarded_delete_actions(super().get_actions(request), user_memberships)

    def delete_view(
        self, request: HttpRequest, object_id: str, extra_context: Any = None
    ) -> HttpResponse:
        with transaction.atomic():
            return refuse_orphaning_delete(
                self, request, object_id, user_memberships
            ) or super().delete_view(request, object_id, extra_context)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return is_superuser(request)

    def has_view_permission(
        self, request: HttpRequest, obj: User | None = None
    ) -> bool:
        return is_superuser(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return is_superuser(request)

    def has_change_permission(
        self, request: HttpRequest, obj: User | None = None
    ) -> bool:
        return is_superuser(request)

    def has_delete_permission(
        self, request: HttpRequest, obj: User | None = None
    ) -> bool:
        return is_superuser(request)
