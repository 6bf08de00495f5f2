"""The home page (``/``): where every signed-in user lands."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.contrib.staticfiles.storage import staticfiles_storage
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect

from portal.layout import page


@login_required
def home(request: HttpRequest) -> HttpResponse:
    return page(request, "portal/home.html", section="home")


def favicon(request: HttpRequest) -> HttpResponse:
    """``/favicon.ico``: browsers ask for it on pages naming no icon (the admin)."""
    return HttpResponseRedirect(staticfiles_storage.url("portal/favicon.svg"))
