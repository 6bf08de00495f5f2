"""Models (by provider + model id) and grants through the management API."""

from __future__ import annotations

from decimal import Decimal

import pytest

from gateway import usage
from gateway.models import ApiKey, UsageRecord
from models_catalog.models import AIModel, Grant
from tests.api.conftest import provider_body
from tests.factories import GrantFactory, MembershipFactory, UserFactory

MODELS = "organizations/acme/providers/main/models/"


@pytest.fixture
def main(api, fake_openai):
    response = api.alice.put(
        "organizations/acme/providers/main/", provider_body(fake_openai)
    )
    assert response.status_code == 201
    return fake_openai


def test_put_creates_a_model_whose_id_has_slashes_and_reapplying_changes_nothing(
    api, main
):
    url = MODELS + "meta-llama/Llama-3.1-8B/"
    desired = {
        "model_type": "inference",
        "input_cost_per_million": "1.5",
        "output_cost_per_million": "2",
        "model_config": {"top_k": 3},
    }
    first = api.alice.put(url, desired)
    assert first.status_code == 201, first.json()
    assert first.json()["model_id"] == "meta-llama/Llama-3.1-8B"
    assert first.json()["price_source"] == "manual"
    stamp = AIModel.objects.get(model_id="meta-llama/Llama-3.1-8B").updated_at
    second = api.alice.put(url, desired)
    assert second.status_code == 200
    assert second["X-Changed"] == "false"
    assert AIModel.objects.get(model_id="meta-llama/Llama-3.1-8B").updated_at == stamp
    assert api.alice.get(url).json()["model_config"] == {"top_k": 3}


def test_blank_prices_come_from_the_price_catalog(api, main):
    response = api.alice.put(MODELS + "gpt-4o-mini/", {})
    assert response.status_code == 201
    body = response.json()
    assert body["price_source"] == "catalog"
    assert Decimal(body["input_cost_per_million"]) > 0


def test_post_refuses_a_duplicate_and_patch_updates(api, main):
    assert api.alice.post(MODELS, {"model_id": "gpt-4o"}).status_code == 201
    assert api.alice.post(MODELS, {"model_id": "gpt-4o"}).status_code == 400
    patched = api.alice.patch(MODELS + "gpt-4o/", {"status": "inactive"})
    assert patched.json()["status"] == "inactive"


def test_the_organization_list_filters_by_provider_and_status(api, main):
    api.alice.put(MODELS + "a/", {"status": "inactive"})
    api.alice.put(MODELS + "b/", {})
    listed = api.alice.get("organizations/acme/models/?status=active").json()
    assert [m["model_id"] for m in listed["results"]] == ["b"]


def test_a_model_in_a_keys_allow_list_is_delete_protected(world, api, main):
    api.alice.put(MODELS + "gpt-4o/", {"alias": "smart"})
    ApiKey.issue(world.acme, None, "ci", allowed_models=["smart"])
    ApiKey.issue(world.globex, None, "theirs", allowed_models=["gpt-4o"])
    GrantFactory(
        model=AIModel.objects.get(model_id="gpt-4o"), organization=world.globex
    )
    response = api.alice.delete(MODELS + "gpt-4o/")
    assert response.status_code == 409
    assert response.json()["dependents"]["api_keys"] == ["ci"]
    # the key of an organization it is shared with is counted, never named
    assert response.json()["dependents"]["other_organizations_api_keys"] == 1
    assert "theirs" not in response.content.decode()
    assert api.alice.delete(MODELS + "gpt-4o/?confirm=true").status_code == 204


def test_only_a_superuser_makes_a_model_instance_wide(api, main):
    response = api.alice.put(MODELS + "gpt-4o/", {"instance_wide": True})
    assert response.status_code == 400
    assert not AIModel.objects.filter(model_id="gpt-4o").exists()


def test_test_model_calls_the_model_through_the_gateway(api, main):
    api.alice.put(MODELS + "gpt-4o-mini/", {})
    result = api.alice.post(
        "organizations/acme/providers/main/test-model/", {"model_id": "gpt-4o-mini"}
    ).json()
    assert result["ok"] is True, result
    assert result["answer"]
    usage.flush()  # the test call is recorded like any gateway call
    assert UsageRecord.objects.filter(model__model_id="gpt-4o-mini").count() == 1


def test_grants_share_a_model_with_a_member_or_an_organization(world, api, main):
    api.alice.put(MODELS + "gpt-4o/", {})
    url = "organizations/acme/grants/"
    to_bob = api.alice.post(
        url, {"provider": "main", "model_id": "gpt-4o", "user": "bob"}
    )
    assert to_bob.status_code == 201, to_bob.json()
    to_org = api.alice.post(url, {"provider": "main", "organization": "acme"})
    assert to_org.status_code == 201
    assert {
        g["user"] or g["organization"] for g in api.alice.get(url).json()["results"]
    } == {"bob", "acme"}
    again = api.alice.post(
        url, {"provider": "main", "model_id": "gpt-4o", "user": "bob"}
    )
    assert again.status_code == 400
    code = to_bob.json()["code"]
    assert "id" not in to_bob.json()  # an opaque id only (STYLE rule 7)
    assert api.alice.get(f"{url}{Grant.objects.get(code=code).pk}/").status_code == 404
    assert api.alice.delete(f"{url}{code}/").status_code == 204
    assert not Grant.objects.filter(code=code).exists()


def test_a_grant_names_only_members_and_visible_organizations(world, api, main):
    api.alice.put(MODELS + "gpt-4o/", {})
    url = "organizations/acme/grants/"
    outsider = UserFactory(username="dave")
    MembershipFactory(user=outsider, organization=world.globex)
    to_dave = api.alice.post(
        url, {"provider": "main", "model_id": "gpt-4o", "user": "dave"}
    )
    assert to_dave.status_code == 400
    to_globex = api.alice.post(url, {"provider": "main", "organization": "globex"})
    assert to_globex.status_code == 400
    assert to_globex.json() == {"organization": ["No organization with this slug."]}
    nothing = api.alice.post(url, {"provider": "main"})
    assert nothing.status_code == 400
    assert not Grant.objects.filter(model__model_id="gpt-4o").exists()
