"""Who may manage what: the organizations a user administers.

Every scoped surface (admin, pages, API) asks these functions instead of
filtering memberships itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from accounts.models import Membership, Organization

if TYPE_CHECKING:
    from accounts.models import User


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
