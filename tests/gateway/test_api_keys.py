"""API keys: created in the admin, on the user page and by command; shown once."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from gateway.apikeys import hash_secret
from gateway.models import ApiKey


def login(client, user):
    # django-axes needs the request a password sign-in comes with; these tests
    # are about what a signed-in user sees, not about signing in.
    client.force_login(user)


def test_admin_shows_the_secret_once_and_stores_only_a_hash(client, world):
    login(client, world.alice)
    response = client.post(
        "/admin/gateway/apikey/add/",
        {
            "organization": world.acme.pk,
            "user": world.bob.pk,
            "name": "ci-agent",
            "allowed_models": "gpt-acme\nclaude",
        },
    )
    assert response.status_code == 200
    key = ApiKey.objects.get(name="ci-agent")
    secret = response.context["secret"]
    assert secret.startswith("mg-") and secret in response.content.decode()
    assert key.secret_hash == hash_secret(secret) and secret not in key.secret_hash
    assert key.allowed_models == ["gpt-acme", "claude"]
    assert "no-store" in response["Cache-Control"]
    for page in ["/admin/gateway/apikey/", f"/admin/gateway/apikey/{key.pk}/change/"]:
        assert secret not in client.get(page).content.decode()


def test_admin_refuses_a_user_outside_the_organization(client, world):
    login(client, world.alice)
    response = client.post(
        "/admin/gateway/apikey/add/",
        {"organization": world.acme.pk, "user": world.charlie.pk, "name": "x"},
    )
    assert response.status_code == 200
    assert not ApiKey.objects.exists()


def test_another_org_admin_cannot_see_the_key(client, world):
    key = ApiKey.objects.create(
        organization=world.acme, name="k", prefix="mg-abc", secret_hash="0" * 64
    )
    login(client, world.charlie)
    assert client.get(f"/admin/gateway/apikey/{key.pk}/change/").status_code == 404
    assert "mg-abc" not in client.get("/admin/gateway/apikey/").content.decode()


def test_the_user_page_creates_and_revokes_personal_keys(client, world):
    login(client, world.bob)
    response = client.post("/keys/", {"name": "laptop", "organization": world.acme.pk})
    secret = response.context["secret"]
    assert secret in response.content.decode()
    key = ApiKey.objects.get(name="laptop")
    assert key.user == world.bob and key.secret_hash == hash_secret(secret)
    # a second visit never shows it again
    assert secret not in client.get("/keys/").content.decode()
    client.post(f"/keys/{key.pk}/revoke")
    key.refresh_from_db()
    assert key.is_revoked


def test_the_user_page_creates_keys_only_in_the_current_organization(client, world):
    """The page acts in one organization: a posted organization is ignored."""
    login(client, world.bob)
    response = client.post("/keys/", {"name": "x", "organization": world.globex.pk})
    assert "organization" not in response.context["form"].fields
    assert ApiKey.objects.get().organization == world.acme


def test_a_user_cannot_revoke_someone_elses_key(client, world):
    key = ApiKey.objects.create(
        organization=world.acme,
        user=world.alice,
        name="k",
        prefix="mg-abc",
        secret_hash="1" * 64,
    )
    login(client, world.bob)
    assert client.post(f"/keys/{key.pk}/revoke").status_code == 404
    key.refresh_from_db()
    assert not key.is_revoked


def test_the_command_prints_the_secret_once(world):
    out = io.StringIO()
    call_command(
        "create_api_key",
        organization="acme",
        user="bob",
        name="cli",
        models="a,b",
        stdout=out,
        stderr=io.StringIO(),
    )
    secret = out.getvalue().strip()
    key = ApiKey.objects.get(name="cli")
    assert key.secret_hash == hash_secret(secret)
    assert key.allowed_models == ["a", "b"]
    with pytest.raises(CommandError, match="not a member"):
        call_command(
            "create_api_key",
            organization="acme",
            user="charlie",
            name="x",
            stdout=io.StringIO(),
            stderr=io.StringIO(),
        )
