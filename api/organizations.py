"""Organizations (read; admins rename), their members and invitations."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.exceptions import APIException, PermissionDenied, ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from accounts import invitations
from accounts.access import administers
from accounts.last_admin import last_admin_message, orphaned_organizations
from accounts.models import Invitation, Membership, Organization
from api.access import OrganizationScopedViewSet, scope_of
from api.schema import ErrorSerializer


class OrganizationSerializer(serializers.ModelSerializer[Organization]):
    class Meta:
        model = Organization
        fields = ["slug", "name", "created_at"]
        read_only_fields = ["slug", "created_at"]


class OrganizationViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet[Organization],
):
    """The organizations the caller may read; their admins may rename them."""

    serializer_class = OrganizationSerializer
    permission_classes = [IsAuthenticated]
    lookup_field = "slug"
    lookup_url_kwarg = "organization"
    http_method_names = ["get", "patch", "head", "options"]

    def get_queryset(self) -> QuerySet[Organization]:
        return scope_of(self.request).organizations()

    def perform_update(self, serializer: serializers.BaseSerializer[Any]) -> None:
        organization: Organization = serializer.instance  # type: ignore[assignment]  # an update has its instance
        if not scope_of(self.request).writes(organization.pk):
            raise PermissionDenied("This token may only read.")
        serializer.save()


class MembershipSerializer(serializers.ModelSerializer[Membership]):
    username = serializers.CharField(source="user.username", read_only=True)
    email = serializers.EmailField(source="user.email", read_only=True)

    class Meta:
        model = Membership
        fields = ["username", "email", "role", "created_at"]
        read_only_fields = ["created_at"]


class MembershipViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    OrganizationScopedViewSet,
):
    """The organization's members by username: admins change a role (PATCH) or
    remove a member (DELETE). Joining takes an invitation the invitee accepts.
    The organization's last admin can be neither demoted nor removed (409), the
    admin's rule (``accounts.last_admin``)."""

    serializer_class = MembershipSerializer
    queryset = Membership.objects.select_related("user")
    lookup_field = "user__username"
    lookup_url_kwarg = "username"
    http_method_names = ["get", "patch", "delete", "head", "options"]

    @extend_schema(responses={200: MembershipSerializer, 409: ErrorSerializer})
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        with transaction.atomic():
            membership = self.get_object()
            serializer = self.get_serializer(
                membership, data=request.data, partial=True
            )
            serializer.is_valid(raise_exception=True)
            role = serializer.validated_data.get("role", membership.role)
            if not administers(role):
                refuse_orphaning([membership])
            serializer.save()
        return Response(serializer.data)

    @extend_schema(responses={204: None, 409: ErrorSerializer})
    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        with transaction.atomic():
            membership = self.get_object()
            refuse_orphaning([membership])
            membership.delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


def refuse_orphaning(leaving: list[Membership]) -> None:
    """409 when ``leaving`` takes an organization's last admin (as in the admin)."""
    orphaned = orphaned_organizations(leaving)
    if orphaned:
        raise Conflict(last_admin_message(orphaned))


class Conflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"


class InvitationSerializer(serializers.ModelSerializer[Invitation]):
    status = serializers.CharField(read_only=True)
    invited_by = serializers.CharField(
        source="invited_by.username", read_only=True, allow_null=True
    )

    class Meta:
        model = Invitation
        fields = [
            "code",
            "email",
            "role",
            "status",
            "invited_by",
            "created_at",
            "expires_at",
        ]
        read_only_fields = ["code", "status", "invited_by", "created_at", "expires_at"]


class InvitationViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    OrganizationScopedViewSet,
):
    """Invitations of the organization. POST invites (the link goes by email
    only), DELETE revokes."""

    serializer_class = InvitationSerializer
    queryset = Invitation.objects.select_related("invited_by")
    lookup_field = "code"

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            invitation = invitations.invite(
                self.organization,
                data["email"],
                data.get("role", Membership.Role.MEMBER),
                request.user,  # type: ignore[arg-type]  # authenticated: a User
                request.build_absolute_uri("/"),
            )
        except invitations.AlreadyMember:
            raise ValidationError(
                {"email": ["A member of this organization has this email."]}
            ) from None
        return Response(
            self.get_serializer(invitation).data, status=status.HTTP_201_CREATED
        )

    @extend_schema(responses={204: None})
    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        invitations.revoke(self.get_object())  # a closed one stays closed
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        request=None, responses={200: InvitationSerializer, 409: ErrorSerializer}
    )
    def resend(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Email a fresh link (the earlier one stops working; the expiry starts
        over), as the admin's "resend" does; 409 once accepted or revoked."""
        invitation = self.get_object()
        if not invitations.resend(invitation, request.build_absolute_uri("/")):
            raise Conflict("This invitation was accepted or revoked.")
        invitation.refresh_from_db()
        return Response(self.get_serializer(invitation).data)
