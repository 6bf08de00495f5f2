"""Organizations (read; admins rename), their members and invitations."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from accounts import invitations
from accounts.models import Invitation, Membership, Organization
from api.access import OrganizationScopedViewSet, scope_of


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
    username = serializers.CharField(source="user.username")
    email = serializers.EmailField(source="user.email")

    class Meta:
        model = Membership
        fields = ["username", "email", "role", "created_at"]


class MembershipViewSet(mixins.ListModelMixin, OrganizationScopedViewSet):
    """The organization's members and their roles (read-only: joining takes an
    invitation the invitee accepts)."""

    serializer_class = MembershipSerializer
    queryset = Membership.objects.select_related("user")


class InvitationSerializer(serializers.ModelSerializer[Invitation]):
    status = serializers.CharField(read_only=True)
    invited_by = serializers.CharField(
        source="invited_by.username", read_only=True, allow_null=True
    )

    class Meta:
        model = Invitation
        fields = [
            "id",
            "email",
            "role",
            "status",
            "invited_by",
            "created_at",
            "expires_at",
        ]
        read_only_fields = ["id", "status", "invited_by", "created_at", "expires_at"]


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
    lookup_value_regex = r"[0-9]+"

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
