"""Keys, /v1/models and tenant isolation, driven with the official openai SDK."""

from __future__ import annotations

from datetime import timedelta

import openai
import pytest
from django.utils import timezone

from gateway.models import ApiKey
from models_catalog.models import AIModel, Grant
from tests.factories import AIModelFactory, ProviderFactory


def client(gateway, secret: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.v1, api_key=secret, max_retries=0)


@pytest.fixture
def catalog(world):
    acme_provider = ProviderFactory(organization=world.acme, name="acme-openai")
    granted = AIModelFactory(provider=acme_provider, model_id="gpt-acme")
    Grant.objects.create(model=granted, organization=world.acme)
    private = AIModelFactory(provider=acme_provider, model_id="gpt-acme-private")
    globex_provider = ProviderFactory(organization=world.globex, name="globex-openai")
    globex_model = AIModelFactory(provider=globex_provider, model_id="gpt-globex")
    Grant.objects.create(model=globex_model, organization=world.globex)
    return {"granted": granted, "private": private, "globex": globex_model}


def test_it_rejects_missing_and_wrong_keys(gateway, world):
    for secret in ["mg-wrong-key-0000000000000000000000000000", ""]:
        with pytest.raises(openai.AuthenticationError) as raised:
            client(gateway, secret or "x").models.list()
        assert raised.value.status_code == 401
        assert raised.value.body["code"] == "invalid_api_key"


def test_it_lists_exactly_the_visible_models(gateway, world, catalog):
    _, bob_secret = ApiKey.issue(organization=world.acme, user=world.bob, name="bob")
    _, alice_secret = ApiKey.issue(organization=world.acme, user=world.alice, name="al")
    _, svc_secret = ApiKey.issue(organization=world.globex, user=None, name="svc")

    assert [m.id for m in client(gateway, bob_secret).models.list()] == ["gpt-acme"]
    # alice administers acme, so she sees what acme owns
    assert sorted(m.id for m in client(gateway, alice_secret).models.list()) == [
        "gpt-acme",
        "gpt-acme-private",
    ]
    assert [m.id for m in client(gateway, svc_secret).models.list()] == ["gpt-globex"]
    listed = client(gateway, bob_secret).models.list().data[0]
    assert listed.object == "model" and listed.owned_by == "acme"


def test_a_foreign_model_is_answered_like_a_missing_one(gateway, world, catalog):
    _, charlie_secret = ApiKey.issue(
        organization=world.globex, user=world.charlie, name="c"
    )
    sdk = client(gateway, charlie_secret)
    errors = {}
    for name in ["gpt-acme", "no-such-model"]:
        with pytest.raises(openai.NotFoundError) as raised:
            sdk.chat.completions.create(
                model=name, messages=[{"role": "user", "content": "hi"}]
            )
        errors[name] = raised.value.body
        with pytest.raises(openai.NotFoundError):
            sdk.models.retrieve(name)
    assert (
        errors["gpt-acme"]["code"]
        == errors["no-such-model"]["code"]
        == ("model_not_found")
    )
    assert errors["gpt-acme"]["message"].replace("gpt-acme", "X") == errors[
        "no-such-model"
    ]["message"].replace("no-such-model", "X")


def test_revocation_and_expiry_take_effect(gateway, world, catalog):
    key, secret = ApiKey.issue(organization=world.acme, user=world.bob, name="bob")
    sdk = client(gateway, secret)
    assert sdk.models.list().data
    key.revoked_at = timezone.now()
    key.save()
    with pytest.raises(openai.AuthenticationError):
        sdk.models.list()

    _expired, expired_secret = ApiKey.issue(
        organization=world.acme,
        user=world.bob,
        name="old",
        expires_at=timezone.now() - timedelta(seconds=1),
    )
    with pytest.raises(openai.AuthenticationError):
        client(gateway, expired_secret).models.list()


def test_a_user_removed_from_the_org_loses_the_key(gateway, world, catalog):
    _, secret = ApiKey.issue(organization=world.acme, user=world.bob, name="bob")
    assert client(gateway, secret).models.list().data
    world.bob.memberships.all().delete()
    with pytest.raises(openai.AuthenticationError):
        client(gateway, secret).models.list()


def test_the_allow_list_limits_models(gateway, world, catalog):
    _, secret = ApiKey.issue(
        organization=world.acme,
        user=world.alice,
        name="ci",
        allowed_models=["gpt-acme"],
    )
    sdk = client(gateway, secret)
    assert [m.id for m in sdk.models.list()] == ["gpt-acme"]
    with pytest.raises(openai.PermissionDeniedError) as raised:
        sdk.chat.completions.create(
            model="gpt-acme-private", messages=[{"role": "user", "content": "hi"}]
        )
    assert raised.value.body["code"] == "model_not_allowed"


def test_inactive_models_disappear(gateway, world, catalog):
    _, secret = ApiKey.issue(organization=world.acme, user=world.bob, name="bob")
    sdk = client(gateway, secret)
    assert [m.id for m in sdk.models.list()] == ["gpt-acme"]
    model = catalog["granted"]
    model.status = AIModel.Status.INACTIVE
    model.save()  # as the admin does: the save invalidates the gateway's caches
    assert sdk.models.list().data == []


def test_a_login_does_not_flush_the_gateway_caches(
    world, django_capture_on_commit_callbacks
):
    from django.contrib.auth.models import update_last_login

    with django_capture_on_commit_callbacks() as callbacks:
        update_last_login(None, world.bob)
    assert callbacks == []
    with django_capture_on_commit_callbacks() as callbacks:
        world.bob.is_active = False
        world.bob.save()
    assert len(callbacks) == 1  # deactivating a user does


def test_routes_resolve_alike_when_remembered_and_only_fixed_ones_are(
    gateway, world, catalog
):
    """The gateway remembers how its fixed routes resolve (config/asgi.py);
    routes with ids and unknown paths are resolved every time, so no caller
    can grow what it remembers, and each id still reaches its own answer."""
    import httpx

    from config import asgi

    _, secret = ApiKey.issue(organization=world.acme, user=world.bob, name="bob")
    headers = {"Authorization": f"Bearer {secret}"}
    for _ in range(2):  # the second round is answered from what was remembered
        assert [m.id for m in client(gateway, secret).models.list()] == ["gpt-acme"]
        assert client(gateway, secret).models.retrieve("gpt-acme").id == "gpt-acme"
        with pytest.raises(openai.NotFoundError):
            client(gateway, secret).models.retrieve("gpt-globex")
        for n in range(20):
            answer = httpx.post(f"{gateway.v1}/no-such-route-{n}", headers=headers)
            assert answer.status_code == 404
            assert answer.json()["error"]["code"] == "unknown_url"
        slash = httpx.get(f"{gateway.v1}/models/", headers=headers)
        assert slash.status_code == 404
    remembered = asgi.remembered_routes()
    assert remembered["/v1/models"] == "models"
    assert not [p for p in remembered if "gpt-" in p or "no-such" in p]
    assert set(remembered.values()) <= asgi.FIXED_ROUTES
