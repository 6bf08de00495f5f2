"""Budgets in the management API: CRUD under the organization, validated by the
admin's form, each answer with the current spend; and ``tokens_per_minute`` on
keys, models and providers."""

from __future__ import annotations

from decimal import Decimal

import pytest

from gateway.models import ApiKey, Budget, UsageRecord
from models_catalog.models import AIModel, Grant
from providers.models import Provider
from tests.factories import AIModelFactory, BudgetFactory, ProviderFactory

BUDGETS = "organizations/acme/budgets/"


@pytest.fixture
def acme(world):
    provider = ProviderFactory(organization=world.acme, name="main")
    model = AIModelFactory(provider=provider, model_id="gpt-4o")
    key, _ = ApiKey.issue(world.acme, world.bob, "bot")
    return {"provider": provider, "model": model, "key": key}


def spend(org, cost, **who):
    UsageRecord.objects.create(
        organization=org,
        endpoint="chat",
        model_name="m",
        status_code=200,
        cost=Decimal(cost),
        **who,
    )


def test_an_admin_creates_lists_reads_updates_and_deletes_a_budget(world, api, acme):
    created = api.alice.post(
        BUDGETS, {"scope": "key", "api_key": "bot", "amount": "5", "period": "day"}
    )
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["scope"] == "key" and body["api_key"] == "bot"
    assert body["amount"] == "5.0000" and Decimal(body["spent"]) == 0
    assert body["alert_thresholds"] == [50, 80, 100] and body["is_active"] is True
    assert body["target_label"] == "API key bot"
    code = body["code"]
    spend(world.acme, "1.25", api_key=acme["key"])
    read = api.alice.get(f"{BUDGETS}{code}/").json()
    assert Decimal(read["spent"]) == Decimal("1.25")
    assert read["percent"] == "25.0" and Decimal(read["remaining"]) == Decimal("3.75")
    assert read["period_label"] and read["period_end"] is not None
    assert [b["code"] for b in api.alice.get(BUDGETS).json()["results"]] == [code]
    patched = api.alice.patch(f"{BUDGETS}{code}/", {"amount": "2.5"})
    assert patched.status_code == 200 and patched.json()["percent"] == "50.0"
    assert patched.json()["api_key"] == "bot"  # the target kept
    put = api.alice.put(f"{BUDGETS}{code}/", {"alert_thresholds": [90]})
    assert put.status_code == 200, put.json()
    assert put.json()["amount"] == "2.5000"  # PUT merges
    assert put.json()["alert_thresholds"] == [90]
    assert api.alice.delete(f"{BUDGETS}{code}/").status_code == 204
    assert not Budget.objects.exists()


def test_every_scope_by_natural_keys(world, api, acme):
    for payload in [
        {"scope": "organization"},
        {"scope": "user", "user": "bob"},
        {"scope": "key", "api_key": "bot"},
        {"scope": "model", "provider": "main", "model_id": "gpt-4o"},
        {"scope": "provider", "provider": "main"},
    ]:
        response = api.alice.post(BUDGETS, {**payload, "amount": "1"})
        assert response.status_code == 201, (payload, response.json())
        shown = response.json()
        assert {k: shown[k] for k in payload} == payload
    assert Budget.objects.filter(organization=world.acme).count() == 5


def test_a_shared_model_of_another_organization_is_named_by_its_provider(
    world, api, acme
):
    theirs = ProviderFactory(organization=world.globex, name="main")
    shared = AIModelFactory(provider=theirs, model_id="gpt-4o")
    Grant.objects.create(model=shared, organization=world.acme)
    own = api.alice.post(
        BUDGETS,
        {"scope": "model", "provider": "main", "model_id": "gpt-4o", "amount": "1"},
    )
    assert own.status_code == 201 and own.json()["provider_organization"] is None
    assert Budget.objects.get(code=own.json()["code"]).model == acme["model"]
    other = api.alice.post(
        BUDGETS,
        {
            "scope": "model",
            "provider": "main",
            "model_id": "gpt-4o",
            "provider_organization": "globex",
            "amount": "1",
        },
    )
    assert other.status_code == 201, other.json()
    assert other.json()["provider_organization"] == "globex"
    assert Budget.objects.get(code=other.json()["code"]).model == shared


def test_the_form_refuses_what_the_admin_refuses(world, api, acme):
    ProviderFactory(organization=world.globex, name="theirs")
    ApiKey.issue(world.globex, world.charlie, "their-key")
    cases = [
        ({"scope": "user"}, "user"),
        ({"scope": "user", "user": "charlie"}, "user"),
        ({"scope": "key", "api_key": "their-key"}, "api_key"),
        ({"scope": "provider", "provider": "theirs"}, "provider"),
        ({"scope": "model", "provider": "main", "model_id": "nope"}, "model_id"),
        ({"scope": "model", "model_id": "gpt-4o"}, "provider"),
        ({"scope": "model", "provider": "main"}, "model_id"),
        ({"scope": "organization", "user": "bob"}, "user"),
        ({"scope": "key", "user": "bob"}, "user"),
        ({"scope": "nope"}, "scope"),
        ({"scope": "organization", "amount": "-1"}, "amount"),
        ({"scope": "organization", "period": "year"}, "period"),
        ({"scope": "organization", "alert_thresholds": [0]}, "alert_thresholds"),
        ({"scope": "organization", "alert_thresholds": [5] * 11}, "alert_thresholds"),
    ]
    for payload, field in cases:
        response = api.alice.post(BUDGETS, {"amount": "1", **payload})
        assert response.status_code == 400, (payload, response.json())
        assert field in response.json(), (payload, response.json())
        assert "theirs" not in response.content.decode()
    assert not Budget.objects.exists()


def test_changing_the_target_replaces_it_whole(world, api, acme):
    code = api.alice.post(
        BUDGETS, {"scope": "key", "api_key": "bot", "amount": "1"}
    ).json()["code"]
    changed = api.alice.patch(f"{BUDGETS}{code}/", {"scope": "user", "user": "bob"})
    assert changed.status_code == 200, changed.json()
    assert changed.json()["api_key"] is None and changed.json()["user"] == "bob"
    back = api.alice.patch(f"{BUDGETS}{code}/", {"scope": "organization"})
    assert back.status_code == 200 and back.json()["user"] is None


def test_a_read_only_token_reads_but_cannot_write(world, api, acme):
    budget = BudgetFactory(organization=world.acme)
    assert api.reader.get(BUDGETS).status_code == 200
    assert api.reader.get(f"{BUDGETS}{budget.code}/").status_code == 200
    assert (
        api.reader.post(BUDGETS, {"scope": "organization", "amount": "1"}).status_code
        == 403
    )
    assert (
        api.reader.patch(f"{BUDGETS}{budget.code}/", {"amount": "3"}).status_code == 403
    )
    assert api.reader.delete(f"{BUDGETS}{budget.code}/").status_code == 403
    budget.refresh_from_db()
    assert budget.amount == Decimal("10")


def test_another_organizations_budget_is_404_everywhere(world, api):
    theirs = BudgetFactory(organization=world.globex, amount=Decimal("77"))
    url = f"organizations/globex/budgets/{theirs.code}/"
    for method, body in [("get", None), ("patch", {"amount": "1"}), ("put", {})]:
        response = api.alice.call(method, url, body)
        assert response.status_code == 404, method
    assert api.alice.delete(url).status_code == 404
    # Under acme's own path too: a globex code is no acme budget.
    assert api.alice.get(f"{BUDGETS}{theirs.code}/").status_code == 404
    assert api.alice.delete(f"{BUDGETS}{theirs.code}/").status_code == 404
    assert "77" not in api.alice.get(BUDGETS).content.decode()
    assert Budget.objects.filter(pk=theirs.pk).exists()


def test_tokens_per_minute_on_keys_models_and_providers(world, api, acme):
    key = api.alice.post(
        "organizations/acme/api-keys/", {"name": "tpm", "tokens_per_minute": 5000}
    )
    assert key.status_code == 201 and key.json()["tokens_per_minute"] == 5000
    assert ApiKey.objects.get(name="tpm").tokens_per_minute == 5000
    patched = api.alice.patch(
        "organizations/acme/api-keys/tpm/", {"tokens_per_minute": None}
    )
    assert patched.status_code == 200 and patched.json()["tokens_per_minute"] is None
    assert (
        api.alice.patch(
            "organizations/acme/api-keys/tpm/", {"tokens_per_minute": 0}
        ).status_code
        == 400
    )
    model = api.alice.patch(
        "organizations/acme/providers/main/models/gpt-4o/", {"tokens_per_minute": 700}
    )
    assert model.status_code == 200, model.json()
    assert model.json()["tokens_per_minute"] == 700
    assert AIModel.objects.get(model_id="gpt-4o").tokens_per_minute == 700
    provider = api.alice.patch(
        "organizations/acme/providers/main/",
        {"tokens_per_minute": 90000, "verify": False},
    )
    assert provider.status_code == 200, provider.json()
    assert provider.json()["tokens_per_minute"] == 90000
    assert Provider.objects.get(name="main").tokens_per_minute == 90000
