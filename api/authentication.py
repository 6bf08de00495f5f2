"""Who calls the management API: a management token, or the site's session.

A bearer token is looked up by the hash of its secret among live tokens; a
gateway key (or anything else) is not one, and is refused with 401 like an
unknown token. The session (DRF's ``SessionAuthentication``) enforces CSRF.

Failed attempts are counted per client address with the gateway's failed-key
throttle (``gateway.throttle``, same limit and window, a counter of its own):
past the limit an address gets 429 with Retry-After, before any lookup, until
the window ends, except for tokens this process has seen valid.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.utils import timezone
from rest_framework import authentication, exceptions

from accounts.access import administers, member_role
from accounts.network import client_address
from api.models import TOKEN_PREFIX, ManagementToken
from gateway import throttle
from gateway.apikeys import hash_secret

if TYPE_CHECKING:
    from rest_framework.request import Request

# last_used_at is written at most this often per token (one UPDATE, not one per call).
LAST_USED_RESOLUTION = timedelta(minutes=1)
INVALID = "Invalid or revoked management token."
TOO_MANY = (
    "Too many requests with invalid management tokens from your address. "
    "Retry after the window resets."
)
THROTTLED = "mgmt:"  # the management API's counter, apart from the gateway's
# Tokens this process has seen valid: looked up even from a throttled address
# (as the gateway does with its keys), so the valid tokens of everyone behind
# it keep working; a token revoked since is still refused by the lookup.
_known_valid: set[str] = set()


class ManagementTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[Any, ManagementToken] | None:
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        address = THROTTLED + client_address(request.META)
        seen = hashlib.sha256(header[-1]).hexdigest()  # never the secret itself
        if seen not in _known_valid:
            wait = throttle.check_now(address)
            if wait is not None:
                raise exceptions.Throttled(wait, TOO_MANY)
        try:
            found = self._authenticate(header)
        except exceptions.AuthenticationFailed:
            wait = throttle.record_now(address)
            if wait is not None:
                raise exceptions.Throttled(wait, TOO_MANY) from None
            raise
        if len(_known_valid) >= 10_000:
            _known_valid.clear()
        _known_valid.add(seen)
        return found

    def _authenticate(self, header: list[bytes]) -> tuple[Any, ManagementToken]:
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
