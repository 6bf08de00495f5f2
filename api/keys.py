"""Gateway API keys and management tokens: both issued once, stored hashed.

Gateway keys are validated by the admin's ``ApiKeyForm`` and minted by
``ApiKey.issue``; deleting one revokes it (``ApiKey.revoke``), as the admin's
action does, so the caches drop it on every replica. Management tokens are the
API's own credentials (``api.models.ManagementToken``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.access import administers, member_role
from accounts.models import User
from api.access import OrganizationScopedViewSet
from api.common import form_errors
from api.models import ManagementToken, live_q
from gateway.forms import ApiKeyForm
from gateway.models import ApiKey

if TYPE_CHECKING:
    from datetime import datetime


class ApiKeySerializer(serializers.Serializer[ApiKey]):
    name = serializers.CharField(max_length=100)
    organization = serializers.CharField(source="organization.slug", read_only=True)
    user = serializers.CharField(
        required=False,
        allow_null=True,
        max_length=150,
        help_text="Username of the member it acts for; empty: a service key.",
    )
    prefix = serializers.CharField(read_only=True)
    allowed_models = serializers.ListField(
        child=serializers.CharField(max_length=255), required=False, max_length=1000
    )
    requests_per_minute = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=2**31 - 1
    )
    tokens_per_minute = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        max_value=2**31 - 1,
        help_text="Input + output tokens per minute; empty: no cap.",
    )
    expires_at = serializers.DateTimeField(required=False, allow_null=True)
    revoked = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField(read_only=True)
    last_used_at = serializers.DateTimeField(read_only=True, allow_null=True)

    def get_revoked(self, obj: ApiKey) -> bool:
        return obj.is_revoked

    def to_representation(self, instance: ApiKey) -> dict[str, Any]:
        data = super().to_representation(instance)
        data["user"] = instance.user.username if instance.user else None
        return data


class NewApiKeySerializer(ApiKeySerializer):
    secret = serializers.CharField(
        read_only=True, help_text="The key itself: shown this once, never again."
    )


class ApiKeyViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, OrganizationScopedViewSet
):
    """The organization's gateway API keys, by name. DELETE revokes."""

    serializer_class = ApiKeySerializer
    queryset = ApiKey.objects.select_related("organization", "user")
    lookup_field = "name"
    lookup_url_kwarg = "key"

    def _form_data(self, key: ApiKey | None, given: dict[str, Any]) -> dict[str, Any]:
        user = key.user if key else None
        if "user" in given:
            username = given["user"]
            user = (
                User.objects.filter(
                    username=username, memberships__organization=self.organization
                ).first()
                if username
                else None
            )
            if username and user is None:
                raise ValidationError(
                    {"user": ["No member of this organization with this username."]}
                )

        def pick(name: str) -> Any:
            return given[name] if name in given else getattr(key, name, None)

        expires = pick("expires_at")
        return {
            "organization": str(self.organization.pk),
            "user": str(user.pk) if user else "",
            "name": pick("name") or "",
            "allowed_models": "\n".join(pick("allowed_models") or []),
            "requests_per_minute": pick("requests_per_minute") or "",
            "tokens_per_minute": pick("tokens_per_minute") or "",
            "expires_at": expires.isoformat() if expires else "",
        }

    @extend_schema(responses={201: NewApiKeySerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        form = ApiKeyForm(self._form_data(None, dict(serializer.validated_data)))
        if not form.is_valid():
            raise ValidationError(form_errors(form))
        data = form.cleaned_data
        key, secret = ApiKey.issue(
            self.organization,
            data["user"],
            data["name"],
            created_by=request.user,  # type: ignore[arg-type]  # authenticated: a User
            allowed_models=data["allowed_models"],
            requests_per_minute=data["requests_per_minute"],
            tokens_per_minute=data["tokens_per_minute"],
            expires_at=data["expires_at"],
        )
        shown = {**ApiKeySerializer(key).data, "secret": secret}
        return Response(shown, status=status.HTTP_201_CREATED, headers=NO_STORE)

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        key = self.get_object()
        serializer = self.get_serializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        given = dict(serializer.validated_data)
        if given.pop("user", None) not in (
            None,
            key.user.username if key.user else None,
        ):
            raise ValidationError({"user": ["The user of a key cannot change."]})
        form = ApiKeyForm(self._form_data(key, given), instance=key)
        if not form.is_valid():
            raise ValidationError(form_errors(form))
        if form.has_changed():
            form.save()
        return Response(self.get_serializer(self.get_object()).data)

    @extend_schema(responses={204: None})
    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        self.get_object().revoke()
        return Response(status=status.HTTP_204_NO_CONTENT)


NO_STORE = {"Cache-Control": "no-store"}


class TokenSerializer(serializers.Serializer[ManagementToken]):
    code = serializers.UUIDField(read_only=True)
    name = serializers.CharField(max_length=100)
    role = serializers.ChoiceField(choices=ManagementToken.Role.choices)
    prefix = serializers.CharField(read_only=True)
    user = serializers.CharField(source="user.username", read_only=True)
    expires_at = serializers.DateTimeField(required=False, allow_null=True)
    created_at = serializers.DateTimeField(read_only=True)
    last_used_at = serializers.DateTimeField(read_only=True, allow_null=True)


class NewTokenSerializer(TokenSerializer):
    secret = serializers.CharField(
        read_only=True, help_text="The token itself: shown this once, never again."
    )


class TokenViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    OrganizationScopedViewSet,
):
    """Management tokens of the organization (live ones). DELETE revokes."""

    serializer_class = TokenSerializer
    # Not ``live()`` here: a class attribute would fix "now" at import time.
    queryset = ManagementToken.objects.select_related("user")
    lookup_field = "code"
    lookup_value_regex = r"[0-9a-fA-F-]{36}"

    def get_queryset(self) -> QuerySet[ManagementToken]:
        if not self.scope.writes(self.organization.pk):
            return (
                ManagementToken.objects.none()
            )  # who holds tokens is admins' business
        return super().get_queryset().filter(live_q())

    @extend_schema(responses={201: NewTokenSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user: User = request.user  # type: ignore[assignment]  # authenticated: a User
        if not (
            user.is_superuser or administers(member_role(user.pk, self.organization.pk))
        ):
            raise PermissionDenied("Only the organization's admins create tokens.")
        data = serializer.validated_data
        name = data["name"]
        expires_at = self._expiry(request, data.get("expires_at"))
        taken = ValidationError({"name": ["A live token of this name exists."]})
        try:
            with transaction.atomic():
                # An expired token keeps its name (the database's constraint)
                # until it is revoked; it is dead, so revoke it now.
                ManagementToken.objects.filter(
                    organization=self.organization, name=name, revoked_at__isnull=True
                ).exclude(live_q()).update(revoked_at=timezone.now())
                if self.get_queryset().filter(name=name).exists():
                    raise taken
                token, secret = ManagementToken.issue(
                    self.organization, user, name, data["role"], expires_at
                )
        except IntegrityError:  # another request took the name meanwhile
            raise taken from None
        shown = {**TokenSerializer(token).data, "secret": secret}
        return Response(shown, status=status.HTTP_201_CREATED, headers=NO_STORE)

    @staticmethod
    def _expiry(request: Request, wanted: datetime | None) -> datetime | None:
        """The new token's expiry: in the future, and never after the expiry of
        the token creating it (an expiring token cannot mint a lasting one)."""
        if wanted is not None and wanted <= timezone.now():
            raise ValidationError({"expires_at": ["Choose a time in the future."]})
        parent = request.auth
        limit = parent.expires_at if isinstance(parent, ManagementToken) else None
        if limit is None:
            return wanted
        if wanted is None:
            return limit
        if wanted > limit:
            raise ValidationError(
                {
                    "expires_at": [
                        "A token cannot outlive the token that creates it "
                        f"(it expires at {limit.isoformat()})."
                    ]
                }
            )
        return wanted

    def perform_destroy(self, instance: ManagementToken) -> None:
        instance.revoke()
