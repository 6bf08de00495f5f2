"""Providers through the management API: the admin's rules, written once."""

from __future__ import annotations

import pytest

from api.models import ManagementToken
from gateway.models import ApiKey
from models_catalog.models import AIModel
from providers.models import Provider
from tests.api.conftest import PROVIDER_KEY, Api, provider_body
from tests.factories import UserFactory

URL = "organizations/acme/providers/"


def test_it_creates_a_provider_after_the_vendor_accepts_the_key(
    world, api, fake_openai
):
    response = api.alice.post(URL, {"name": "main", **provider_body(fake_openai)})
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["name"] == "main" and body["organization"] == "acme"
    assert body["configured"] is True
    assert body["configured_credentials"] == ["api_key"]
    assert "credentials" not in body
    assert body["health"] == "available"  # the save's own check is the status
    provider = Provider.objects.get(organization=world.acme, name="main")
    assert provider.get_credentials() == {"api_key": PROVIDER_KEY}
    assert provider.owner == world.alice


def test_a_key_the_vendor_refuses_saves_nothing(api, fake_openai):
    body = provider_body(fake_openai, credentials={"api_key": "sk-wrong"})
    response = api.alice.post(URL, {"name": "main", **body})
    assert response.status_code == 400
    errors = response.json()
    assert "credentials.api_key" in errors
    assert "sk-wrong" not in response.content.decode()
    assert not Provider.objects.filter(name="main").exists()


def test_verify_false_saves_without_calling_the_vendor(api, fake_openai):
    body = provider_body(fake_openai, credentials={"api_key": "sk-wrong"})
    response = api.alice.post(URL, {"name": "main", "verify": False, **body})
    assert response.status_code == 201
    assert fake_openai.server.app["requests"] == []


def test_the_private_address_guard_applies(api, fake_openai, settings):
    settings.PROVIDERS_ALLOW_PRIVATE_IPS = False
    response = api.alice.post(
        URL, {"name": "main", "verify": False, **provider_body(fake_openai)}
    )
    assert response.status_code == 400
    assert "endpoint" in response.json()
    assert not Provider.objects.exists()


def test_an_unknown_type_or_missing_field_is_a_clear_400(api):
    response = api.alice.post(URL, {"name": "x", "provider_type": "nope"})
    assert response.status_code == 400
    assert "provider_type" in response.json()
    assert api.alice.post(URL, {"provider_type": "openai"}).status_code == 400


def test_put_creates_then_a_second_apply_changes_nothing(api, fake_openai):
    desired = provider_body(fake_openai, priority=5, config={"wire_api": "responses"})
    first = api.alice.put(URL + "main/", desired)
    assert first.status_code == 201, first.json()
    assert first["X-Changed"] == "true"
    stamp = Provider.objects.get(name="main").updated_at
    second = api.alice.put(URL + "main/", desired)
    assert second.status_code == 200
    assert second["X-Changed"] == "false"
    assert Provider.objects.get(name="main").updated_at == stamp
    assert second.json()["config"] == {"wire_api": "responses"}
    changed = api.alice.put(URL + "main/", {**desired, "priority": 6})
    assert changed["X-Changed"] == "true"
    assert Provider.objects.get(name="main").priority == 6


def test_moving_the_endpoint_requires_the_credentials_again(world, api, fake_openai):
    api.alice.put(URL + "main/", provider_body(fake_openai))
    moved = api.alice.patch(
        URL + "main/", {"endpoint": "http://127.0.0.1:9/v1", "verify": False}
    )
    assert moved.status_code == 400
    assert "enter the credentials again" in str(moved.json())
    assert Provider.objects.get(name="main").endpoint == fake_openai.endpoint


def test_only_a_superuser_makes_a_provider_instance_wide(world, api, fake_openai):
    response = api.alice.post(
        URL, {"name": "main", "instance_wide": True, **provider_body(fake_openai)}
    )
    assert response.status_code == 400
    assert "instance_wide" in response.json()


def test_a_read_only_token_reads_but_cannot_write(api, fake_openai):
    api.alice.put(URL + "main/", provider_body(fake_openai))
    assert api.reader.get(URL + "main/").status_code == 200
    assert api.reader.patch(URL + "main/", {"priority": 1}).status_code == 403
    assert api.reader.delete(URL + "main/").status_code == 403


def test_delete_answers_409_with_dependents_unless_confirmed(world, api, fake_openai):
    api.alice.put(URL + "main/", provider_body(fake_openai))
    AIModel.objects.create(
        provider=Provider.objects.get(name="main"), model_id="gpt-4o-mini"
    )
    ApiKey.issue(world.acme, None, "ci", allowed_models=["main/gpt-4o-mini"])
    response = api.alice.delete(URL + "main/")
    assert response.status_code == 409
    assert response.json()["dependents"] == {
        "api_keys": ["ci"],
        "other_organizations_api_keys": 0,
        "recent_calls": 0,
    }
    assert Provider.objects.filter(name="main").exists()
    assert api.alice.delete(URL + "main/?confirm=true").status_code == 204
    assert not Provider.objects.filter(name="main").exists()


def test_a_provider_nothing_uses_is_deleted_at_once(api, fake_openai):
    api.alice.put(URL + "main/", provider_body(fake_openai))
    assert api.alice.delete(URL + "main/").status_code == 204


def test_actions_check_verify_discover_and_history(api, fake_openai):
    api.alice.put(URL + "main/", provider_body(fake_openai, activate_discovered=True))
    checked = api.alice.post(URL + "main/check-health/")
    assert checked.status_code == 200
    assert checked.json()["health"] == "available"
    verified = api.alice.post(URL + "main/verify/").json()
    assert verified["ok"] is True and verified["health"] == "available"
    found = api.alice.post(URL + "main/discover/").json()
    assert found["ok"] is True
    assert AIModel.objects.filter(provider__name="main", model_id="gpt-4o").exists()
    history = api.alice.get(URL + "main/health/").json()
    assert history["results"][0]["to_health"] == "available"


def test_verify_reports_a_refused_key_without_recording_it(api, fake_openai):
    api.alice.put(
        URL + "main/",
        provider_body(fake_openai, credentials={"api_key": "sk-no"}, verify=False),
    )
    verified = api.alice.post(URL + "main/verify/").json()
    assert verified["ok"] is False
    assert verified["health"] == "unavailable"


@pytest.mark.parametrize("name", ["Bad Name", "a/b"])
def test_put_refuses_a_name_that_is_not_a_slug(api, fake_openai, name):
    response = api.alice.put(URL + name + "/", provider_body(fake_openai))
    assert response.status_code in (400, 404)
    assert not Provider.objects.exists()


def test_a_superuser_makes_a_provider_instance_wide(world, api, fake_openai):
    root = UserFactory(username="root", is_superuser=True, is_staff=True)
    _, secret = ManagementToken.issue(None, root, "all", "admin")
    api.secrets.values.add(secret)
    response = Api(api.secrets, secret).put(
        URL + "shared/", {"instance_wide": True, **provider_body(fake_openai)}
    )
    assert response.status_code == 201, response.json()
    assert Provider.objects.get(name="shared").instance_wide is True


def test_a_refused_key_on_an_update_keeps_the_stored_one(api, fake_openai):
    api.alice.put(URL + "main/", provider_body(fake_openai))
    response = api.alice.patch(URL + "main/", {"credentials": {"api_key": "sk-bad"}})
    assert response.status_code == 400
    assert "credentials.api_key" in response.json()
    stored = Provider.objects.get(name="main").get_credentials()
    assert stored == {"api_key": PROVIDER_KEY}


def test_credentials_left_out_are_kept_and_clear_removes_them(api, fake_openai):
    api.alice.put(URL + "main/", provider_body(fake_openai))
    kept = api.alice.patch(URL + "main/", {"priority": 7})
    assert kept.json()["configured"] is True
    cleared = api.alice.patch(
        URL + "main/",
        {"clear_credentials": True, "auth_method": "none", "verify": False},
    )
    assert cleared.status_code == 200, cleared.json()
    assert cleared.json()["configured"] is False
    assert Provider.objects.get(name="main").get_credentials() == {}


def test_put_merges_fields_left_out_keep_their_stored_value(api, fake_openai):
    # The README's decision: PUT states the fields a desired state manages.
    desired = provider_body(fake_openai, priority=5)
    assert api.alice.put(URL + "main/", desired).status_code == 201
    api.alice.patch(URL + "main/", {"requests_per_minute": 60})  # someone else's
    again = api.alice.put(URL + "main/", desired)
    assert again["X-Changed"] == "false"
    assert again.json()["requests_per_minute"] == 60
    assert again.json()["configured_credentials"] == ["api_key"]
    without_key = {k: v for k, v in desired.items() if k != "credentials"}
    assert api.alice.put(URL + "main/", without_key)["X-Changed"] == "false"
    reset = api.alice.put(URL + "main/", {**desired, "requests_per_minute": None})
    assert reset["X-Changed"] == "true"
    assert Provider.objects.get(name="main").requests_per_minute is None
