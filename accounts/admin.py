"""Admin for organizations and memberships, and the scoped base every app's admin uses.

Org admins manage their organizations' objects in the Django admin. Permission
comes from the ``Membership`` role (``accounts.access.admin_org_ids``), not from
Django's per-model permissions: superusers see everything, an org admin sees and
manages what their organizations own, everyone else sees nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db.models import Count, Model, Q, QuerySet
from django.http import Http404

from accounts.access import admin_org_ids
from accounts.models import Membership, Organization, User

if TYPE_CHECKING:
    from django.db.models import ForeignKey
    from django.forms import ModelChoiceField
    from django.http import HttpRequest

_CACHE_ATTR = "_modelgate_admin_org_ids"


def is_superuser(request: HttpRequest) -> bool:
    user = request.user
    return bool(user.is_active and user.is_superuser)


def request_admin_org_ids(request: HttpRequest) -> frozenset[int]:
    """Ids of the organizations the request's user administers, resolved once."""
    cached = getattr(request, _CACHE_ATTR, None)
    if cached is None:
        user = request.user
        if not (user.is_authenticated and user.is_active and user.is_staff):
            cached = frozenset()
        else:
            cached = frozenset(admin_org_ids(user))  # type: ignore[arg-type]
        setattr(request, _CACHE_ATTR, cached)
    return cached


def scoped_choices(model: type[Model], request: HttpRequest) -> QuerySet[Any] | None:
    """The rows of ``model`` the user may pick in a form; None means no limit.

    Fails closed: a model that is neither an organization, a user, nor owned by
    an organization offers nothing to a non-superuser.
    """
    if is_superuser(request):
        return None
    ids = request_admin_org_ids(request)
    if model is Organization:
        return Organization.objects.filter(pk__in=ids)
    if model is User:
        return User.objects.filter(
            pk__in=Membership.objects.filter(organization_id__in=ids).values("user_id")
        )
    field_names = {f.name for f in model._meta.get_fields()}
    if "organization" in field_names:
        return model._default_manager.filter(organization_id__in=ids)
    return model._default_manager.none()


class OrganizationScopedAdmin(admin.ModelAdmin):
    """A ModelAdmin whose rows belong to organizations; access follows the role.

    Subclasses whose rows reach their organization other than through an
    ``organization`` foreign key override ``scope_q`` and ``organization_id_of``.
    """

    def scope_q(self, org_ids: frozenset[int]) -> Q:
        return Q(organization_id__in=org_ids)

    def organization_id_of(self, obj: Any) -> int | None:
        return getattr(obj, "organization_id", None)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        qs = super().get_queryset(request)
        if is_superuser(request):
            return qs
        return qs.filter(self.scope_q(request_admin_org_ids(request)))

    def get_object(
        self, request: HttpRequest, object_id: str, from_field: str | None = None
    ) -> Any:
        """The object, or 404: another organization's object looks like none at all.

        Django's admin would redirect with "doesn't exist" instead.
        """
        obj = super().get_object(request, object_id, from_field)
        if obj is None:
            raise Http404
        return obj

    def may_manage(self, request: HttpRequest, obj: Any = None) -> bool:
        if is_superuser(request):
            return True
        ids = request_admin_org_ids(request)
        if obj is None:
            return bool(ids)
        return self.organization_id_of(obj) in ids

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.may_manage(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.may_manage(request, obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self.may_manage(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.may_manage(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.may_manage(request, obj)

    def formfield_for_foreignkey(
        self, db_field: ForeignKey[Any, Any], request: HttpRequest, **kwargs: Any
    ) -> ModelChoiceField | None:
        if "queryset" not in kwargs:
            queryset = scoped_choices(db_field.related_model, request)
            if queryset is not None:
                kwargs["queryset"] = queryset
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class MembershipForm(forms.ModelForm):
    """Add a member by username, so no list of the instance's users is ever shown."""

    user = forms.ModelChoiceField(
        queryset=User.objects.filter(is_active=True),
        to_field_name="username",
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
        label="Username",
        error_messages={"invalid_choice": "There is no active user with that name."},
    )

    class Meta:
        model = Membership
        fields = ["user", "organization", "role"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk and self.instance.user_id:
            self.initial["user"] = self.instance.user.username


class MembershipInline(admin.TabularInline):
    model = Membership
    form = MembershipForm
    fields = ["user", "role", "created_at"]
    readonly_fields = ["created_at"]
    extra = 0

    def get_queryset(self, request: HttpRequest) -> QuerySet[Membership]:
        return super().get_queryset(request).select_related("user")

    def _may_manage(self, request: HttpRequest, obj: Any) -> bool:
        if is_superuser(request):
            return True
        ids = request_admin_org_ids(request)
        return bool(ids) if obj is None else obj.pk in ids

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._may_manage(request, obj)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._may_manage(request, obj)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._may_manage(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._may_manage(request, obj)


@admin.register(Organization)
class OrganizationAdmin(OrganizationScopedAdmin):
    list_display = ["name", "slug", "member_count", "created_at"]
    search_fields = ["name", "slug"]
    inlines = [MembershipInline]

    def scope_q(self, org_ids: frozenset[int]) -> Q:
        return Q(pk__in=org_ids)

    def organization_id_of(self, obj: Any) -> int | None:
        return getattr(obj, "pk", None)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Organization]:
        return (
            super()
            .get_queryset(request)
            .annotate(member_count=Count("memberships", distinct=True))
        )

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        # The slug names the tenant in URLs and config; only operators rename it.
        return [] if is_superuser(request) else ["slug"]

    def get_prepopulated_fields(
        self, request: HttpRequest, obj: Any = None
    ) -> dict[str, tuple[str, ...]]:
        return {"slug": ("name",)} if is_superuser(request) else {}

    # Creating or deleting a tenant is an operator's job.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return is_superuser(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
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


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    """All users of the instance: operators (superusers) only."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return is_superuser(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return is_superuser(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return is_superuser(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return is_superuser(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return is_superuser(request)
