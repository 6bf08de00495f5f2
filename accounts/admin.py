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
from django.db.models import Count, Q, QuerySet

from accounts.access import (
    OrganizationScopedAdmin,
    is_member,
    is_superuser,
    request_admin_org_ids,
)
from accounts.models import Membership, Organization, User

if TYPE_CHECKING:
    from django.forms import BaseInlineFormSet, ModelForm
    from django.http import HttpRequest

# One answer for every username an org admin may not attach, so the form never
# tells whether a user of another tenant exists.
NOT_ATTACHABLE = (
    "Only existing members of this organization can be listed here; ask an "
    "operator to add someone new."
)


class MembershipForm(forms.ModelForm[Membership]):
    """A membership, naming its user by username so no list of users is shown.

    Only superusers attach existing users of the instance to an organization
    (joining takes consent; invitations will bring it). For anyone else the
    username must already belong to a member of the chosen organization, and
    every other username, existing or not, gets the same ``NOT_ATTACHABLE``.
    """

    user = forms.CharField(
        max_length=150,
        label="Username",
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    # Bound per request by membership_form_for(): the signed-in user's powers.
    may_attach_any_user = False
    _manageable_org_ids: frozenset[int] = frozenset()

    class Meta:
        model = Membership
        fields = ["user", "organization", "role"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk and self.instance.user_id:
            self.initial["user"] = self.instance.user.username

    def clean_user(self) -> User:
        username = self.cleaned_data["user"].strip()
        if self.may_attach_any_user:
            user = User.objects.filter(username=username, is_active=True).first()
            if user is None:
                raise forms.ValidationError("There is no active user with that name.")
            return user
        # The organization is not cleaned yet: the check follows in clean().
        user = User.objects.filter(
            username=username,
            pk__in=Membership.objects.filter(
                organization_id__in=self._manageable_org_ids
            ).values("user_id"),
        ).first()
        if user is None:
            raise forms.ValidationError(NOT_ATTACHABLE)
        return user

    def clean(self) -> dict[str, Any]:
        # ModelForm.clean() returns cleaned_data itself (its stub says "or None").
        super().clean()
        data = self.cleaned_data
        user = data.get("user")
        org = data.get("organization") or self.instance_organization()
        if self.may_attach_any_user or user is None or org is None:
            return data
        unchanged = (
            self.instance.pk is not None
            and self.instance.user_id == user.pk
            and self.instance.organization_id == org.pk
        )
        if not unchanged and not is_member(user.pk, org.pk):
            self.add_error("user", NOT_ATTACHABLE)
        return data

    def instance_organization(self) -> Organization | None:
        if self.instance.organization_id is None:
            return None
        return self.instance.organization


def membership_form_for(request: HttpRequest) -> type[MembershipForm]:
    """The membership form with the signed-in user's powers bound in."""
    return type(
        "ScopedMembershipForm",
        (MembershipForm,),
        {
            "may_attach_any_user": is_superuser(request),
            "_manageable_org_ids": request_admin_org_ids(request),
        },
    )


class MembershipInline(admin.TabularInline[Membership, Organization]):
    model = Membership
    form = MembershipForm
    fields = ["user", "role", "created_at"]
    readonly_fields = ["created_at"]
    extra = 0

    def get_queryset(self, request: HttpRequest) -> QuerySet[Membership]:
        return super().get_queryset(request).select_related("user")

    def get_formset(
        self, request: HttpRequest, obj: Organization | None = None, **kwargs: Any
    ) -> type[BaseInlineFormSet[Membership, Organization, ModelForm[Membership]]]:
        kwargs["form"] = membership_form_for(request)
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
        return self._may_manage(request, obj)

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
    form = MembershipForm
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


@admin.register(User)
class UserAdmin(DjangoUserAdmin[User]):
    """All users of the instance: operators (superusers) only."""

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
