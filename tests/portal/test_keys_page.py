"""The keys page: create in the current organization, secret once, snippets, revoke."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import User
from gateway.models import ApiKey
from models_catalog.models import AIModel, Grant
from tests.conftest import World
from tests.factories import AIModelFactory, ProviderFactory


@pytest.fixture
def models(world: World) -> None:
    """acme shares a chat and an embedding model; globex has a private one."""
    provider = ProviderFactory(organization=world.acme, name="acme-openai")
    chat = AIModelFactory(provider=provider, model_id="gpt-x", alias="chat-small")
    embed = AIModelFactory(
        provider=provider,
        model_id="embed-1",
        model_type=AIModel.ModelType.EMBEDDING,
    )
    for model in (chat, embed):
        Grant.objects.create(model=model, organization=world.acme)
    AIModelFactory(
        provider=ProviderFactory(organization=world.globex), model_id="globex-secret"
    )


def signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_form_names_the_organization_and_offers_visible_models(
    world: World, models: None
) -> None:
    page = signed_in(world.bob).get("/keys/")
    assert page["Cache-Control"] == "no-store"
    assert "Creating a key in <strong>Acme Corp</strong>" in page.text
    assert 'type="checkbox" name="allowed_models" value="chat-small"' in page.text
    assert 'value="embed-1"' in page.text
    assert "globex-secret" not in page.text


def test_creating_shows_the_secret_once_with_copy_and_snippets(
    world: World, models: None
) -> None:
    client = signed_in(world.bob)
    created = client.post("/keys/", {"name": "laptop", "expires_in_days": "30"})
    assert created.status_code == 200
    assert created["Cache-Control"] == "no-store"
    key = ApiKey.objects.get(name="laptop")
    assert key.organization == world.acme and key.user == world.bob
    assert key.expires_at is not None
    secret = re.search(r'id="new-key-secret"[^>]*value="([^"]+)"', created.text)
    assert secret, created.text
    assert ApiKey.objects.get(prefix=key.prefix).secret_hash != secret[1]
    assert 'data-copy="#new-key-secret"' in created.text
    text = created.text.replace("&quot;", '"').replace("&#x27;", "'")
    # curl, Python and Node, each with the base URL, the secret and a chat model
    assert "curl http://testserver/v1/chat/completions" in text
    assert f"-H 'Authorization: Bearer {secret[1]}'" in text
    assert f'OpenAI(base_url="http://testserver/v1", api_key="{secret[1]}")' in text
    assert f'baseURL: "http://testserver/v1", apiKey: "{secret[1]}"' in text
    assert text.count('"chat-small"') >= 3  # the chat model, not the embedding one
    # the next visit lists the key, never its secret
    again = client.get("/keys/")
    assert secret[1] not in again.text
    assert key.prefix in again.text and "active" in again.text


def test_a_key_limited_to_some_models(world: World, models: None) -> None:
    client = signed_in(world.bob)
    client.post("/keys/", {"name": "embedder", "allowed_models": ["embed-1"]})
    assert ApiKey.objects.get(name="embedder").allowed_models == ["embed-1"]


def test_without_a_chat_model_the_snippet_has_a_placeholder(
    world: World, models: None
) -> None:
    created = signed_in(world.bob).post(
        "/keys/", {"name": "e", "allowed_models": ["embed-1"]}
    )
    assert "your-model" in created.text
    assert "replace <code>your-model</code>" in created.text


@pytest.mark.parametrize("name", ["globex-secret", "no-such-model"])
def test_a_model_not_visible_is_refused_like_an_unknown_one(
    world: World, models: None, name: str
) -> None:
    response = signed_in(world.bob).post(
        "/keys/", {"name": "sneaky", "allowed_models": [name]}
    )
    assert response.status_code == 200
    message = f"Select a valid choice. {name} is not one of the available choices."
    assert message in response.text
    assert not ApiKey.objects.filter(name="sneaky").exists()


def test_bad_input_changes_nothing(world: World, models: None) -> None:
    client = signed_in(world.bob)
    for data in ({"name": ""}, {"name": "x", "expires_in_days": "0"}):
        assert client.post("/keys/", data).status_code == 200
    client.post("/keys/", {"name": "dup"})
    dup = client.post("/keys/", {"name": "dup"})
    assert "already has a key with this name" in dup.text
    assert ApiKey.objects.count() == 1
    assert 'id="new-key-secret"' not in dup.text


def test_statuses_and_revoke(world: World, models: None) -> None:
    client = signed_in(world.bob)
    live, _ = ApiKey.issue(world.acme, world.bob, "live")
    old, _ = ApiKey.issue(
        world.acme,
        world.bob,
        "old",
        expires_at=timezone.now() - timedelta(days=1),
    )
    page = client.get("/keys/").text
    assert 'class="badge key-active">active' in page
    assert 'class="badge key-expired">expired' in page
    assert f'action="/keys/{live.pk}/revoke"' in page
    assert client.post(f"/keys/{live.pk}/revoke")["Location"] == "/keys/"
    live.refresh_from_db()
    assert live.is_revoked
    assert 'class="badge key-revoked">revoked' in client.get("/keys/").text
    assert client.get(f"/keys/{old.pk}/revoke").status_code == 405


def test_keys_of_another_user_or_organization_answer_404(
    world: World, models: None
) -> None:
    alices, _ = ApiKey.issue(world.acme, world.alice, "alices")
    charlies, _ = ApiKey.issue(world.globex, world.charlie, "charlies")
    bob = signed_in(world.bob)
    page = bob.get("/keys/").text
    assert "alices" not in page and "charlies" not in page
    for key in (alices, charlies):
        assert bob.post(f"/keys/{key.pk}/revoke").status_code == 404
        key.refresh_from_db()
        assert not key.is_revoked
    charlie = signed_in(world.charlie)
    assert "Creating a key in <strong>Globex</strong>" in charlie.get("/keys/").text
    assert charlie.post(f"/keys/{alices.pk}/revoke").status_code == 404
