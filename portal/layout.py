"""One layout for every site page: the organization the user acts in, and the nav.

Each page acts in one organization at a time (``accounts.access``): the one the
user chose with the switcher, remembered in the session, else their first.
Nothing from another membership shows, exactly as for an API key of that
organization.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from accounts.access import OrganizationContext, organization_context


def page(
    request: HttpRequest,
    template: str,
    ctx: OrganizationContext | None = None,
    *,
    section: str = "",
    status: int = 200,
    **extra: object,
) -> HttpResponse:
    """Render a site page in the layout (``templates/portal/base.html``).

    ``section`` marks the current entry of the navigation.
    """
    ctx = ctx or organization_context(request)
    return render(
        request,
        template,
        {
            "organization": ctx.organization,
            "membership": ctx.membership,
            "memberships": ctx.memberships,
            "section": section,
            **extra,
        },
        status=status,
    )
