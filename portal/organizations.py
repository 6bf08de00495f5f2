"""The organization switcher: which of the user's organizations the site acts in."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from accounts.access import choose_organization


@require_POST
@login_required
def switch_organization(request: HttpRequest) -> HttpResponse:
    """Act in another of the user's organizations; 404 unless a member of it."""
    choose_organization(request, str(request.POST.get("organization", "")))
    target = str(request.POST.get("next", ""))
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = "/"
    return redirect(target)
