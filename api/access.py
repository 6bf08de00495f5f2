"""The management API's scope: which organizations a request may read and write.

Resolved once per request from its credentials, the same way the admin scopes
rows (``accounts.access``): a session acts in the organizations its user
administers (all for a superuser); a token in its one organization, with its
role (a superuser's organization-less token in all). An organization outside
the readable set is answered 404 exactly like one that does not exist; a
read-only scope asked to write is 403.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from django.db.models import Q, QuerySet
from django.http import Http404
from rest_framework import permissions, viewsets

from accounts.access import admin_org_ids
from accounts.models import Organization
from api.models import ManagementToken

if TYPE_CHECKING:
    from rest_framework.request import Request
    from rest_framework.views import APIView

_SCOPE_ATTR = "_modelgate_api_scope"


@dataclass(frozen=True)
class Scope:
    """Organization ids readable and writable (None: every organization)."""

    readable: frozenset[int] | None
    writable: frozenset[int] | None
    superuser: bool

    def reads(self, organization_id: int) -> bool:
        return self.readable is None or organization_id in self.readable

    def writes(self, organization_id: int) -> bool:
        return self.writable is None or organization_id in self.writable

    def organizations(self) -> QuerySet[Organization]:
        if self.readable is None:
            return Organization.objects.all()
        return Organization.objects.filter(pk__in=self.readable)


NOTHING = Scope(frozenset(), frozenset(), superuser=False)


def scope_of(request: Request) -> Scope:
    """The request's scope, computed once and kept on the request."""
    cached: Scope | None = getattr(request, _SCOPE_ATTR, None)
    if cached is not None:
        return cached
    scope = _resolve(request)
    setattr(request, _SCOPE_ATTR, scope)
    return scope


def _resolve(request: Request) -> Scope:
    user = request.user
    # Staff status, as the admin requires (accounts.access.request_admin_org_ids).
    if not (user and user.is_authenticated and user.is_active and user.is_staff):
        return NOTHING
    token = request.auth
    if isinstance(token, ManagementToken):
        if token.organization_id is None:  # a superuser's (authentication checked)
            every = None if token.is_admin else frozenset[int]()
            return Scope(None, every, superuser=True)
        ids = frozenset({token.organization_id})
        return Scope(ids, ids if token.is_admin else frozenset(), superuser=False)
    if user.is_superuser:
        return Scope(None, None, superuser=True)
    ids = frozenset(admin_org_ids(user))
    return Scope(ids, ids, superuser=False)


class ScopedPermission(permissions.BasePermission):
    """Signed in with some scope; writing needs the organization writable.

    The organization itself is checked by the viewset (404 when unreadable);
    this only adds the role: reading methods need read, the rest write.
    """

    def has_permission(self, request: Request, view: APIView) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        organization: Organization | None = getattr(view, "organization", None)
        if organization is None or request.method in permissions.SAFE_METHODS:
            return True
        return scope_of(request).writes(organization.pk)


class OrganizationScopedViewSet(viewsets.GenericViewSet[Any]):
    """A viewset under ``organizations/<organization>/``: the organization is
    resolved once in ``initial()`` (404 unless readable) and always applied in
    ``get_queryset()`` through ``scope_q``."""

    permission_classes: ClassVar[list[type[permissions.BasePermission]]] = [  # type: ignore[misc]
        ScopedPermission
    ]
    organization: Organization

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        self.perform_authentication(request)
        if request.user and request.user.is_authenticated:
            self.organization = self.resolve_organization(request)
        super().initial(request, *args, **kwargs)

    def resolve_organization(self, request: Request) -> Organization:
        if any("\x00" in str(value) for value in self.kwargs.values()):
            # No name holds NUL, and PostgreSQL refuses it in a query (a 500).
            raise Http404
        slug = self.kwargs.get("organization", "")
        organization = Organization.objects.filter(slug=slug).first()
        if organization is None or not scope_of(request).reads(organization.pk):
            raise Http404
        return organization

    def scope_q(self) -> Q:
        return Q(organization=self.organization)

    def get_queryset(self) -> QuerySet[Any]:
        queryset: QuerySet[Any] = super().get_queryset()
        return queryset.filter(self.scope_q())

    @property
    def scope(self) -> Scope:
        return scope_of(self.request)
