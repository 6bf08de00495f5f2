"""Isolation matrix: every route of the management API, for two organizations.

Charlie (globex's admin, with a token or his session) calls every operation of
every route with acme's identifiers: each answers 404, exactly like a missing
object, and afterwards acme's data is unchanged. The routes come from
``api.urls`` itself, so a new route joins the matrix without an edit here (the
test fails until its identifiers are known below).
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import URLPattern, reverse
from rest_framework.test import APIClient

from accounts.models import Invitation, Membership
from api import urls as api_urls
from api.models import ManagementToken
from gateway.budgets.webhooks import ensure_secret
from gateway.models import AlertSettings, ApiKey, Budget, UsageRecord
from models_catalog.models import AIModel, Grant
from providers.models import Provider
from tests.factories import (
    AIModelFactory,
    BudgetFactory,
    GrantFactory,
    ProviderFactory,
)

# Routes that are not organization data: the schema and its page.
PUBLIC = {"api-schema", "api-docs", "api-organization-list", "api-not-found"}
NAMES_OF_ACME = (
    "main",
    "gpt-4o",
    "bot",
    "acme-ci",
    "Acme Corp",
    "eve@example",
    "hooks.acme.test",
)


@pytest.fixture
def acme_data(world, api):
    provider = ProviderFactory(organization=world.acme, name="main")
    model = AIModelFactory(provider=provider, model_id="gpt-4o")
    grant = GrantFactory(model=model, organization=world.acme)
    ApiKey.issue(world.acme, world.bob, "bot")
    token, _ = ManagementToken.issue(world.acme, world.alice, "acme-ci", "admin")
    invitation = api.alice.post(
        "organizations/acme/invitations/", {"email": "eve@example.test"}
    ).json()
    UsageRecord.objects.create(
        organization=world.acme, endpoint="chat", model_name="gpt-4o", status_code=200
    )
    budget = BudgetFactory(
        organization=world.acme, scope="model", model=model, amount=Decimal("42")
    )
    alerts = AlertSettings(
        organization=world.acme, webhook_url="https://hooks.acme.test/spend"
    )
    api.secrets.values.add(ensure_secret(alerts) or "")
    alerts.save()
    return {
        "budget": budget.code,
        "organization": "acme",
        "provider": "main",
        "model_id": "gpt-4o",
        "grant": grant.code,
        "key": "bot",
        "code": token.code,
        "invitation": invitation["code"],
        "username": "bob",
    }


def acme_urls(ids: dict[str, object]) -> list[tuple[str, str, list[str]]]:
    """(name, url, methods) for every organization route, with acme's ids."""
    found = []
    for pattern in api_urls.urlpatterns:
        assert isinstance(pattern, URLPattern)
        name = pattern.name or ""
        if name in PUBLIC:
            continue
        wanted = pattern.pattern.regex.groupindex
        kwargs = {k: ids[k] for k in wanted}
        if name.startswith("api-invitation-") and name != "api-invitation-list":
            kwargs["code"] = ids["invitation"]
        if name == "api-grant-detail":
            kwargs["code"] = ids["grant"]
        if name == "api-budget-detail":
            kwargs["code"] = ids["budget"]
        url = reverse(name, kwargs=kwargs)
        actions = pattern.callback.actions  # type: ignore[attr-defined]
        found.append((name, url, sorted(actions)))
    return found


def snapshot():
    return (
        sorted(Provider.objects.values_list("name", "updated_at")),
        sorted(AIModel.objects.values_list("model_id", "updated_at", "status")),
        Grant.objects.count(),
        sorted(ApiKey.objects.values_list("name", "revoked_at")),
        sorted(ManagementToken.objects.values_list("name", "revoked_at")),
        sorted(Membership.objects.values_list("user__username", "role")),
        sorted(Invitation.objects.values_list("email", "token_hash", "revoked_at")),
        sorted(Budget.objects.values_list("code", "amount", "updated_at")),
        sorted(
            AlertSettings.objects.values_list(
                "organization__slug", "webhook_url", "webhook_secret", "daily_digest"
            )
        ),
    )


def test_the_matrix_covers_every_route(acme_data):
    routes = acme_urls(acme_data)
    assert len(routes) == len(api_urls.urlpatterns) - len(PUBLIC)
    assert sum(len(methods) for _, _, methods in routes) >= 35


@pytest.mark.parametrize("how", ["token", "session"])
def test_another_organization_gets_404_on_every_operation(world, api, acme_data, how):
    before = snapshot()
    if how == "token":
        client = api.charlie.client
    else:
        client = APIClient()
        client.force_login(world.charlie)
    for name, url, methods in acme_urls(acme_data):
        for method in methods:
            response = getattr(client, method)(
                url, data={"name": "x", "model_id": "y"}, format="json"
            )
            assert response.status_code == 404, (name, method, response.status_code)
            text = response.content.decode()
            assert not any(n in text for n in NAMES_OF_ACME), (name, method)
            api.secrets.check(response.content)
    assert snapshot() == before


def test_a_missing_organization_looks_the_same_as_a_foreign_one(api):
    foreign = api.charlie.get("organizations/acme/providers/")
    missing = api.charlie.get("organizations/nowhere/providers/")
    assert foreign.status_code == missing.status_code == 404
    assert foreign.json() == missing.json()


def test_own_lists_never_show_another_organizations_rows(world, api, acme_data):
    ProviderFactory(organization=world.globex, name="theirs")
    for path in (
        "providers/",
        "models/",
        "grants/",
        "api-keys/",
        "tokens/",
        "members/",
        "invitations/",
        "usage/",
        "budgets/",
        "alert-settings/",
    ):
        response = api.charlie.get(f"organizations/globex/{path}")
        assert response.status_code == 200, path
        text = response.content.decode()
        assert not any(n in text for n in NAMES_OF_ACME), path


def test_a_grant_on_a_shared_model_stays_the_owners_to_manage(world, api, acme_data):
    # acme shares its model with globex: globex uses it, but cannot see the grant
    # in its own list or manage acme's provider.
    model = AIModel.objects.get(model_id="gpt-4o")
    GrantFactory(model=model, organization=world.globex)
    listed = api.charlie.get("organizations/globex/grants/").json()
    assert listed["results"] == []
    assert api.charlie.get("organizations/acme/providers/main/").status_code == 404


def test_an_unknown_path_is_the_apis_json_404(api):
    response = api.alice.get("organizations/acme/nothing-here/")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}
