"""API keys: created in the admin, on the user page and by command; shown once."""

from __future__ import annotations

import ast
import io
from pathlib import Path

import pytest
from django.conf import settings
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
    secret = response.context["created"]["secret"]
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


def test_a_key_issued_with_an_operator_secret_stores_only_its_hash(world):
    secret = "ci-operator-secret-0123456789"
    key, returned = ApiKey.issue(
        world.acme, world.bob, "ci", secret=secret, requests_per_minute=5
    )
    key.refresh_from_db()
    assert returned == secret
    assert key.secret_hash == hash_secret(secret) and key.prefix == secret[:11]
    assert key.user == world.bob and key.requests_per_minute == 5


def test_a_weak_operator_secret_is_refused_and_nothing_is_stored(world):
    with pytest.raises(ValueError, match="at least 24"):
        ApiKey.issue(world.acme, None, "weak", secret="short")
    assert not ApiKey.objects.exists()


def test_revoking_twice_keeps_the_first_revocation_time(world):
    key, _ = ApiKey.issue(world.acme, world.bob, "k")
    assert key.revoke() is True
    first = ApiKey.objects.get(pk=key.pk).revoked_at
    assert first is not None
    assert key.revoke() is False
    assert ApiKey.objects.get(pk=key.pk).revoked_at == first


def test_the_admin_records_who_issued_a_key_and_its_action_revokes(client, world):
    login(client, world.alice)
    client.post(
        "/admin/gateway/apikey/add/",
        {"organization": world.acme.pk, "user": world.bob.pk, "name": "agent"},
    )
    key = ApiKey.objects.get(name="agent")
    assert key.created_by == world.alice and key.prefix.startswith("mg-")
    client.post(
        "/admin/gateway/apikey/",
        {"action": "revoke_keys", "_selected_action": [key.pk]},
    )
    key.refresh_from_db()
    assert key.is_revoked


WRITERS = {"create", "update", "update_or_create", "get_or_create", "ApiKey"}


def writes_rows(func: ast.expr) -> bool:
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    return name in WRITERS


def test_only_the_model_mints_or_revokes_keys():
    """No surface writes a key's hash or revocation itself: ApiKey does."""
    base = Path(settings.BASE_DIR)
    offenders = []
    for app in ["accounts", "providers", "models_catalog", "gateway", "bootstrap"]:
        for path in sorted((base / app).rglob("*.py")):
            relative = path.relative_to(base).as_posix()
            # accounts/models.py: Invitation.revoke writes its own revoked_at.
            if "/migrations/" in relative or relative in (
                "gateway/models.py",
                "accounts/models.py",
            ):
                continue
            for node in ast.walk(ast.parse(path.read_text(), relative)):
                targets = []
                if isinstance(node, ast.Assign):
                    targets = node.targets
                elif isinstance(node, ast.AugAssign | ast.AnnAssign):
                    targets = [node.target]
                names = [t.attr for t in targets if isinstance(t, ast.Attribute)]
                if isinstance(node, ast.Call) and writes_rows(node.func):
                    names += [k.arg for k in node.keywords if k.arg]
                if {"secret_hash", "revoked_at", "prefix"} & set(names):
                    offenders.append(f"{relative}:{node.lineno}")
    assert offenders == []
