"""The home page (``/``): where every signed-in user lands.

A member sees the models they may use, their keys, their own usage in the
current organization over 30 days and a quickstart. An org admin (a superuser:
in the organization they act in) sees the organization's dashboard over a
chosen range, its provider health board, and the same keys and quickstart.
Both show budgets with their current spend: an admin all the organization's,
a member those that limit them (``gateway.budgets.shown``).
"""

from __future__ import annotations

from typing import Any, cast

from django.contrib.auth.decorators import login_required
from django.contrib.staticfiles.storage import staticfiles_storage
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect

from accounts.access import administers, organization_context
from accounts.models import User
from gateway import reports
from gateway.budgets import shown
from gateway.models import ApiKey
from portal import snippets
from portal.catalog import usable_models
from portal.dashboard import chart_data, chosen_range, with_budgets
from portal.layout import page

RECENT_KEYS = 5


@login_required
def home(request: HttpRequest) -> HttpResponse:
    ctx = organization_context(request)
    org = ctx.organization
    if ctx.membership is None or org is None:
        return page(request, "portal/home.html", ctx, section="home")
    user = cast(User, request.user)  # login_required: a signed-in User
    models = usable_models(ctx)
    chosen = snippets.pick_model(models)
    keys = ApiKey.objects.filter(
        user=user, organization=org, revoked_at__isnull=True
    ).order_by("-created_at")
    base_url = request.build_absolute_uri("/v1")
    recent = with_budgets(org.pk, list(keys[:RECENT_KEYS]))
    common: dict[str, Any] = {
        "models": models,
        "keys": recent,
        "key_count": keys.count(),
        "base_url": base_url,
        "quickstart_model": snippets.call_name(chosen) if chosen else "",
        "snippets": snippets.chat_snippets(
            base_url,
            snippets.call_name(chosen) if chosen else snippets.PLACEHOLDER_MODEL,
        ),
    }
    if administers(ctx.membership.role) or user.is_superuser:
        report_range, range_error = chosen_range(request.GET.get("range"))
        report = reports.organization_report(org.pk, report_range)
        return page(
            request,
            "portal/home_admin.html",
            ctx,
            section="home",
            report=report,
            ranges=reports.RANGES.values(),
            range_error=range_error,
            chart=chart_data(report.series, report_range.unit),
            providers=reports.provider_health(org.pk),
            budgets=shown.of_organization(org.pk),
            **common,
        )
    mine = reports.member_report(org.pk, user.pk)
    return page(
        request,
        "portal/home_member.html",
        ctx,
        section="home",
        report=mine,
        chart=chart_data(mine.series, "day"),
        budgets=shown.of_member(org.pk, user.pk),
        **common,
    )


def favicon(request: HttpRequest) -> HttpResponse:
    """``/favicon.ico``: browsers ask for it on pages naming no icon (the admin)."""
    return HttpResponseRedirect(staticfiles_storage.url("portal/favicon.svg"))
