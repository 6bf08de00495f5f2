"""Who calls the management API: a management token, or the site's session.

A bearer token is looked up by the hash of its secret among live tokens; a
gateway key (or anything else) is not one, and is refused with 401 like an
unknown token. The session (DRF's ``SessionAuthentication``) enforces CSRF.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.utils import timezone
from rest_framework import authentication, exceptions

from accounts.access import administers, member_role
from api.models import TOKEN_PREFIX, ManagementToken
from gateway.apikeys import hash_secret

if TYPE_CHECKING:
    from rest_framework.request import Request

# last_used_at is written at most this often per token (one UPDATE, not one per call).
LAST_USED_RESOLUTION = timedelta(minutes=1)
INVALID = "Invalid or revoked management token."


class ManagementTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[Any, ManagementToken] | None:
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(INVALID)
        try:
            secret = header[1].decode()
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed(INVALID) from None
        if not secret.startswith(TOKEN_PREFIX):
            raise exceptions.AuthenticationFailed(INVALID)
        token = (
            ManagementToken.objects.live()
            .select_related("user", "organization")
            .filter(secret_hash=hash_secret(secret))
            .first()
        )
        if token is None or not still_entitled(token):
            raise exceptions.AuthenticationFailed(INVALID)
        now = timezone.now()
        if (
            token.last_used_at is None
            or now - token.last_used_at > LAST_USED_RESOLUTION
        ):
            ManagementToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        return self.keyword


def still_entitled(token: ManagementToken) -> bool:
    """Whether the token's user may still hold it (an admin who left loses it).

    As for the admin (``accounts.access.request_admin_org_ids``): staff status
    is required, so a user a superuser locked out of the admin is locked out
    of the API too.
    """
    user = token.user
    if not (user.is_active and user.is_staff):
        return False
    if user.is_superuser:
        return True
    if token.organization_id is None:
        return False  # an organization-less token is a superuser's only
    return administers(member_role(user.pk, token.organization_id))
