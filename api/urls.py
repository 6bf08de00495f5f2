"""The management API's routes, mounted at /api/v1/ by config.urls.

Everything an organization owns lives under ``organizations/<slug>/``; a
model's natural key is its provider's name and its id, which may hold slashes.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, JsonResponse
from django.urls import path, re_path
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from api.alerts import AlertSettingsViewSet
from api.budgets import BudgetViewSet
from api.catalog import GrantViewSet, OrganizationModelViewSet, ProviderModelViewSet
from api.keys import ApiKeyViewSet, TokenViewSet
from api.organizations import InvitationViewSet, MembershipViewSet, OrganizationViewSet
from api.providers import ProviderViewSet
from api.usage import UsageViewSet

LIST: dict[str, Any] = {"get": "list", "post": "create"}
DETAIL: dict[str, Any] = {
    "get": "retrieve",
    "put": "update",
    "patch": "partial_update",
    "delete": "destroy",
}
ORG = "organizations/<slug:organization>/"
PROVIDER = ORG + "providers/<slug:provider>/"


@csrf_exempt  # any method on an unknown path is the API's JSON 404, not a CSRF page
def not_found(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"detail": "Not found."}, status=404)


def post(name: str) -> dict[str, Any]:
    return {"post": name}


urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path(
        "docs/",
        SpectacularSwaggerSplitView.as_view(url_name="api-schema"),
        name="api-docs",
    ),
    path(
        "organizations/",
        OrganizationViewSet.as_view({"get": "list"}),
        name="api-organization-list",
    ),
    path(
        ORG,
        OrganizationViewSet.as_view({"get": "retrieve", "patch": "partial_update"}),
        name="api-organization-detail",
    ),
    path(
        ORG + "members/",
        MembershipViewSet.as_view({"get": "list"}),
        name="api-member-list",
    ),
    path(
        ORG + "members/<str:username>/",
        MembershipViewSet.as_view(
            {"get": "retrieve", "patch": "partial_update", "delete": "destroy"}
        ),
        name="api-member-detail",
    ),
    path(
        ORG + "invitations/",
        InvitationViewSet.as_view(LIST),
        name="api-invitation-list",
    ),
    path(
        ORG + "invitations/<uuid:code>/",
        InvitationViewSet.as_view({"get": "retrieve", "delete": "destroy"}),
        name="api-invitation-detail",
    ),
    path(
        ORG + "invitations/<uuid:code>/resend/",
        InvitationViewSet.as_view(post("resend")),
        name="api-invitation-resend",
    ),
    path(ORG + "providers/", ProviderViewSet.as_view(LIST), name="api-provider-list"),
    path(PROVIDER, ProviderViewSet.as_view(DETAIL), name="api-provider-detail"),
    path(
        PROVIDER + "check-health/",
        ProviderViewSet.as_view(post("check_health")),
        name="api-provider-check-health",
    ),
    path(
        PROVIDER + "discover/",
        ProviderViewSet.as_view(post("discover")),
        name="api-provider-discover",
    ),
    path(
        PROVIDER + "verify/",
        ProviderViewSet.as_view(post("verify")),
        name="api-provider-verify",
    ),
    path(
        PROVIDER + "test-model/",
        ProviderViewSet.as_view(post("test_model")),
        name="api-provider-test-model",
    ),
    path(
        PROVIDER + "health/",
        ProviderViewSet.as_view({"get": "health"}),
        name="api-provider-health",
    ),
    path(
        PROVIDER + "models/",
        ProviderModelViewSet.as_view(LIST),
        name="api-provider-model-list",
    ),
    # A model id may contain slashes (e.g. meta-llama/Llama-3.1-8B).
    re_path(
        r"^organizations/(?P<organization>[-a-zA-Z0-9_]+)/providers/"
        r"(?P<provider>[-a-zA-Z0-9_]+)/models/(?P<model_id>.+)/$",
        ProviderModelViewSet.as_view(DETAIL),
        name="api-provider-model-detail",
    ),
    path(
        ORG + "models/",
        OrganizationModelViewSet.as_view({"get": "list"}),
        name="api-model-list",
    ),
    path(ORG + "grants/", GrantViewSet.as_view(LIST), name="api-grant-list"),
    path(
        ORG + "grants/<uuid:code>/",
        GrantViewSet.as_view({"get": "retrieve", "delete": "destroy"}),
        name="api-grant-detail",
    ),
    path(ORG + "api-keys/", ApiKeyViewSet.as_view(LIST), name="api-key-list"),
    path(
        ORG + "api-keys/<path:key>/",  # a key's name may hold slashes
        ApiKeyViewSet.as_view(
            {"get": "retrieve", "patch": "partial_update", "delete": "destroy"}
        ),
        name="api-key-detail",
    ),
    path(ORG + "tokens/", TokenViewSet.as_view(LIST), name="api-token-list"),
    path(
        ORG + "tokens/<uuid:code>/",
        TokenViewSet.as_view({"get": "retrieve", "delete": "destroy"}),
        name="api-token-detail",
    ),
    path(ORG + "budgets/", BudgetViewSet.as_view(LIST), name="api-budget-list"),
    path(
        ORG + "budgets/<uuid:code>/",
        BudgetViewSet.as_view(DETAIL),
        name="api-budget-detail",
    ),
    path(ORG + "usage/", UsageViewSet.as_view({"get": "list"}), name="api-usage-list"),
    path(
        ORG + "usage/totals/",
        UsageViewSet.as_view({"get": "totals"}),
        name="api-usage-totals",
    ),
    path(
        ORG + "alert-settings/",
        AlertSettingsViewSet.as_view(
            {"get": "retrieve", "put": "update", "patch": "partial_update"}
        ),
        name="api-alert-settings",
    ),
    path(
        ORG + "alert-settings/rotate-secret/",
        AlertSettingsViewSet.as_view(post("rotate_secret")),
        name="api-alert-settings-rotate-secret",
    ),
    # Anything else under /api/v1/: the API's JSON 404, not the site's page.
    re_path(r"^[\s\S]*$", not_found, name="api-not-found"),  # newlines too
]
