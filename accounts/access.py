"""Who may manage what, and in which organization: the one scoping hook per surface.

Every scoped surface asks this module instead of filtering memberships itself:

- who administers and who belongs: ``administers`` (a role is the admin role),
  ``member_role`` and ``is_member`` (one membership row), used by visibility,
  the gateway's key principal, the key and grant forms and the commands;
- the admin: ``OrganizationScopedAdmin`` (rows, object access, FK choices, list
  filters) built on ``request_admin_org_ids`` and ``scoped_choices``;
- the site's pages: ``organization_context`` (the one organization the signed-in
  user acts in, chosen and remembered in the session) and ``choose_organization``.

What a request asks (the organizations its user administers, its organization
context) is computed once per request and kept on the request object.

Nothing here may ever name another organization's object to an org admin: a
choice, filter or error offers only rows of the organizations they administer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from django.contrib import admin
from django.contrib.admin.utils import get_fields_from_path
from django.db.models import Model, Q, QuerySet
from django.http import Http404

from accounts.models import Membership, Organization, User

if TYPE_CHECKING:
    from django.db.models import ForeignKey
    from django.db.models.fields.related import RelatedField
    from django.forms import ModelChoiceField
    from django.http import HttpRequest
    from django_stubs_ext import StrOrPromise

# Per-request caches, set on the request object by the functions below.
_ADMIN_ORG_IDS_ATTR = "_modelgate_admin_org_ids"
_CONTEXT_ATTR = "_modelgate_organization_context"
SESSION_ORGANIZATION = "modelgate_organization_id"


# -- Roles and memberships ----------------------------------------------------


def administers(role: str | None) -> bool:
    """Whether a membership ``role`` (None: not a member) is the admin role."""
    return role == Membership.Role.ADMIN


def member_role(user_id: int, organization_id: int) -> str | None:
    """The user's role in the organization, or None when not a member (1 query)."""
    return (
        Membership.objects.filter(user_id=user_id, organization_id=organization_id)
        .values_list("role", flat=True)
        .first()
    )


def is_member(user_id: int, organization_id: int) -> bool:
    """Whether the user belongs to the organization, in any role (1 query)."""
    return member_role(user_id, organization_id) is not None


def admin_org_ids(user: User) -> set[int]:
    """Ids of the organizations the user administers (every one for a superuser)."""
    if not user.is_authenticated:
        return set()
    if user.is_superuser:
        return set(Organization.objects.values_list("pk", flat=True))
    return set(
        Membership.objects.filter(user=user, role=Membership.Role.ADMIN).values_list(
            "organization_id", flat=True
        )
    )


# -- The admin ----------------------------------------------------------------


def is_superuser(request: HttpRequest) -> bool:
    user = request.user
    return bool(user.is_active and user.is_superuser)


def request_admin_org_ids(request: HttpRequest) -> frozenset[int]:
    """Ids of the organizations the request's user administers, resolved once."""
    cached = getattr(request, _ADMIN_ORG_IDS_ATTR, None)
    if cached is None:
        user = request.user
        if not (user.is_authenticated and user.is_active and user.is_staff):
            cached = frozenset()
        else:
            cached = frozenset(admin_org_ids(user))
        setattr(request, _ADMIN_ORG_IDS_ATTR, cached)
    return cached


def scoped_choices(model: type[Model], request: HttpRequest) -> QuerySet[Any] | None:
    """The rows of ``model`` the user may pick or see named; None means no limit.

    An organization: those they administer. A user: the members of those. A row
    owned by an organization: those rows. Fails closed: any other model offers
    nothing to a non-superuser.
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


class ScopedRelatedFieldListFilter(admin.RelatedFieldListFilter):
    """A related-object filter offering only rows the user may see named.

    The choices are the related rows that occur in the admin's own (scoped)
    queryset and that ``scoped_choices`` allows; Django's plain filter offers
    every row of the related table, every tenant's included.
    """

    def field_choices(
        self,
        field: RelatedField[Any, Any],
        request: HttpRequest,
        model_admin: admin.ModelAdmin[Any],
    ) -> list[tuple[str, StrOrPromise]]:
        present = (
            model_admin.get_queryset(request)
            .distinct()
            .values_list(f"{self.field_path}__pk", flat=True)
        )
        limit = Q(pk__in=present)
        allowed = scoped_choices(field.related_model, request)
        if allowed is not None:
            limit &= Q(pk__in=allowed.values("pk"))
        ordering = self.field_admin_ordering(field, request, model_admin)
        choices = field.get_choices(
            include_blank=False, limit_choices_to=limit, ordering=ordering
        )
        # Without the blank choice Field.get_choices returns the plain list of
        # (value, label) pairs, the list Django's own field_choices returns.
        self.has_empty_rows = (
            model_admin.get_queryset(request)
            .filter(**{f"{self.field_path}__isnull": True})
            .exists()
        )
        return cast("list[tuple[str, StrOrPromise]]", choices)

    @property
    def include_empty_choice(self) -> bool:
        """The empty ("-") choice only when the user's own rows hold one:
        Django offers it for every nullable relation, rows or not."""
        return super().include_empty_choice and getattr(self, "has_empty_rows", True)


def scoped_list_filter(model: type[Model], list_filter: Any) -> list[Any]:
    """``list_filter`` with every relation filter replaced by the scoped one."""
    scoped: list[Any] = []
    for entry in list_filter:
        path = entry[0] if isinstance(entry, (tuple, list)) else entry
        if isinstance(path, str):
            field = get_fields_from_path(model, path)[-1]
            if field.is_relation:
                scoped.append((path, ScopedRelatedFieldListFilter))
                continue
        scoped.append(entry)
    return scoped


class OrganizationScopedAdmin(admin.ModelAdmin[Any]):
    """A ModelAdmin whose rows belong to organizations; access follows the role.

    Subclasses whose rows reach their organization other than through an
    ``organization`` foreign key override ``scope_q`` and ``organization_id_of``.
    Relation list filters and FK choices are scoped here, for every subclass.
    """

    def scope_q(self, org_ids: frozenset[int]) -> Q:
        return Q(organization_id__in=org_ids)

    def instance_wide_field(self, request: HttpRequest) -> str:
        """The form's instance-wide field: the checkbox for superusers, who alone
        may set it; for everyone else a read-only text (a boolean icon would
        show a red cross on every ordinary row)."""
        return "instance_wide" if is_superuser(request) else "instance_wide_text"

    @admin.display(description="Instance-wide")
    def instance_wide_text(self, obj: Any) -> str:
        if getattr(obj, "instance_wide", False):
            return "Yes: every user of this instance may use it."
        return "No (only a superuser can share with the whole instance)."

    def organization_id_of(self, obj: Any) -> int | None:
        return getattr(obj, "organization_id", None)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        qs = super().get_queryset(request)
        if is_superuser(request):
            return qs
        return qs.filter(self.scope_q(request_admin_org_ids(request)))

    def get_list_filter(self, request: HttpRequest) -> list[Any]:
        return scoped_list_filter(self.model, super().get_list_filter(request))

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
    ) -> ModelChoiceField[Any] | None:
        if "queryset" not in kwargs:
            queryset = scoped_choices(db_field.related_model, request)
            if queryset is not None:
                kwargs["queryset"] = queryset
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


# -- The site's pages ---------------------------------------------------------


@dataclass(frozen=True)
class OrganizationContext:
    """The organization a signed-in user acts in now, and the ones they may pick."""

    membership: Membership | None
    memberships: list[Membership]

    @property
    def organization(self) -> Organization | None:
        return self.membership.organization if self.membership else None


def _memberships(user: User) -> list[Membership]:
    return list(
        Membership.objects.filter(user_id=user.pk)
        .select_related("organization")
        .order_by("organization__name", "organization__slug")
    )


def organization_context(request: HttpRequest) -> OrganizationContext:
    """The user's chosen organization (remembered in the session), else the first.

    The choice is checked against the memberships on every request, so leaving
    an organization takes effect at once; with no membership there is none.
    Resolved once per request (``choose_organization`` resets it).
    """
    cached: OrganizationContext | None = getattr(request, _CONTEXT_ATTR, None)
    if cached is not None:
        return cached
    user = request.user  # signed out: a member of nothing (no query)
    memberships = _memberships(user) if user.is_authenticated else []
    chosen = request.session.get(SESSION_ORGANIZATION)
    current = next(
        (m for m in memberships if m.organization_id == chosen),
        memberships[0] if memberships else None,
    )
    context = OrganizationContext(current, memberships)
    setattr(request, _CONTEXT_ATTR, context)
    return context


def choose_organization(request: HttpRequest, slug: str) -> Membership:
    """Remember ``slug`` as the user's organization on the site; 404 unless a member.

    The 404 is the same whether the organization exists or not.
    """
    user = request.user
    if not user.is_authenticated:  # a member of nothing: the same 404 as before
        raise Http404
    membership = (
        Membership.objects.filter(user_id=user.pk, organization__slug=slug)
        .select_related("organization")
        .first()
    )
    if membership is None:
        raise Http404
    request.session[SESSION_ORGANIZATION] = membership.organization_id
    if hasattr(request, _CONTEXT_ATTR):
        delattr(request, _CONTEXT_ATTR)
    return membership
