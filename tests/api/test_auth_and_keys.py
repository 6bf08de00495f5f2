"""Who may call the management API, and the keys and tokens it issues."""

from __future__ import annotations

from datetime import timedelta

import httpx
from django.core.management import call_command
from django.utils import timezone
from django.utils.crypto import get_random_string
from rest_framework.test import APIClient

from accounts.models import Membership
from api.models import ManagementToken
from gateway.apikeys import hash_secret
from gateway.models import ApiKey
from tests.api.conftest import Api
from tests.factories import UserFactory

ORGS = "organizations/"


def test_no_credentials_is_401(api):
    response = api.anonymous.get(ORGS)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"


def test_a_gateway_key_never_reaches_the_management_api(world, api):
    _, secret = ApiKey.issue(world.acme, world.alice, "gw")
    assert Api(api.secrets, secret).get(ORGS).status_code == 401


def test_a_management_token_never_reaches_the_gateway(gateway, world):
    _, secret = ManagementToken.issue(world.acme, world.alice, "t", "admin")
    response = httpx.get(
        f"{gateway.v1}/models", headers={"Authorization": f"Bearer {secret}"}
    )
    assert response.status_code == 401


def test_unknown_revoked_and_expired_tokens_are_401(world, api):
    assert Api(api.secrets, "mgmt_nope").get(ORGS).status_code == 401
    token, secret = ManagementToken.issue(world.acme, world.alice, "t", "admin")
    assert Api(api.secrets, secret).get(ORGS).status_code == 200
    token.revoke()
    assert Api(api.secrets, secret).get(ORGS).status_code == 401
    _, old = ManagementToken.issue(
        world.acme,
        world.alice,
        "old",
        "admin",
        expires_at=timezone.now() - timedelta(seconds=1),
    )
    assert Api(api.secrets, old).get(ORGS).status_code == 401


def test_an_admin_who_leaves_loses_their_tokens(world, api):
    Membership.objects.filter(user=world.alice).update(role="member")
    assert api.alice.get(ORGS).status_code == 401


def test_a_token_sees_its_organization_only(api):
    assert [o["slug"] for o in api.alice.get(ORGS).json()["results"]] == ["acme"]
    assert [o["slug"] for o in api.charlie.get(ORGS).json()["results"]] == ["globex"]


def test_a_superusers_token_acts_across_organizations(world, api):
    root = UserFactory(username="root", is_superuser=True, is_staff=True)
    _, secret = ManagementToken.issue(None, root, "all", "admin")
    api.secrets.values.add(secret)
    everywhere = Api(api.secrets, secret)
    slugs = [o["slug"] for o in everywhere.get(ORGS).json()["results"]]
    assert slugs == ["acme", "globex"]
    renamed = everywhere.patch(ORGS + "globex/", {"name": "Globex Inc"})
    assert renamed.json()["name"] == "Globex Inc"


def test_an_organization_less_token_of_a_non_superuser_is_refused(world, api):
    _, secret = ManagementToken.issue(None, world.alice, "all", "admin")
    assert Api(api.secrets, secret).get(ORGS).status_code == 401


def test_admins_rename_their_organization_and_readers_cannot(world, api):
    assert api.alice.patch(ORGS + "acme/", {"name": "Acme"}).status_code == 200
    assert api.reader.patch(ORGS + "acme/", {"name": "X"}).status_code == 403
    world.acme.refresh_from_db()
    assert world.acme.name == "Acme"


def test_the_session_works_and_writes_need_the_csrf_token(world):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(world.alice)
    assert client.get("/api/v1/organizations/acme/").status_code == 200
    refused = client.patch("/api/v1/organizations/acme/", {"name": "A"}, format="json")
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["detail"]
    token = get_random_string(32)  # what the site's pages put in the cookie
    client.cookies["csrftoken"] = token
    allowed = client.patch(
        "/api/v1/organizations/acme/",
        {"name": "A"},
        format="json",
        HTTP_X_CSRFTOKEN=token,
    )
    assert allowed.status_code == 200


def test_a_member_who_is_not_an_admin_has_no_session_scope(world):
    client = APIClient()
    client.force_login(world.bob)
    assert client.get("/api/v1/organizations/").json()["results"] == []
    assert client.get("/api/v1/organizations/acme/providers/").status_code == 404


def test_tokens_are_shown_once_and_stored_hashed(world, api):
    created = api.alice.post(ORGS + "acme/tokens/", {"name": "ci", "role": "read_only"})
    assert created.status_code == 201
    secret = created.json()["secret"]
    assert created["Cache-Control"] == "no-store"
    token = ManagementToken.objects.get(code=created.json()["code"])
    assert token.secret_hash == hash_secret(secret)
    assert secret not in str(
        ManagementToken.objects.filter(pk=token.pk).values().first()
    )
    listed = api.alice.get(ORGS + "acme/tokens/").json()["results"]
    assert "secret" not in listed[0]
    assert api.alice.delete(f"{ORGS}acme/tokens/{token.code}/").status_code == 204
    assert Api(api.secrets, secret).get(ORGS).status_code == 401


def test_a_read_only_token_neither_lists_nor_creates_tokens(api):
    assert api.reader.get(ORGS + "acme/tokens/").json()["results"] == []
    created = api.reader.post(ORGS + "acme/tokens/", {"name": "x", "role": "admin"})
    assert created.status_code == 403


def test_issue_management_token_prints_a_working_token(world, api, capsys):
    call_command(
        "issue_management_token", user="alice", organization="acme", role="admin"
    )
    secret = capsys.readouterr().out.strip()
    api.secrets.values.add(secret)
    assert Api(api.secrets, secret).get(ORGS + "acme/").status_code == 200


def test_api_keys_are_issued_once_and_revoked_by_delete(world, api):
    url = ORGS + "acme/api-keys/"
    created = api.alice.post(
        url, {"name": "bot", "user": "bob", "allowed_models": ["gpt-4o"]}
    )
    assert created.status_code == 201, created.json()
    body = created.json()
    key = ApiKey.objects.get(organization=world.acme, name="bot")
    assert key.secret_hash == hash_secret(body["secret"])
    assert body["user"] == "bob" and body["allowed_models"] == ["gpt-4o"]
    assert "secret" not in api.alice.get(url + "bot/").json()
    patched = api.alice.patch(url + "bot/", {"requests_per_minute": 10})
    assert patched.json()["requests_per_minute"] == 10
    assert api.alice.patch(url + "bot/", {"user": "alice"}).status_code == 400
    assert api.alice.delete(url + "bot/").status_code == 204
    key.refresh_from_db()
    assert key.is_revoked
    assert api.alice.get(url + "bot/").json()["revoked"] is True


def test_an_api_key_for_a_non_member_or_a_taken_name_is_400(world, api):
    url = ORGS + "acme/api-keys/"
    assert api.alice.post(url, {"name": "x", "user": "charlie"}).status_code == 400
    assert api.alice.post(url, {"name": "svc"}).status_code == 201
    assert api.alice.post(url, {"name": "svc"}).status_code == 400


def test_members_and_invitations(
    world, api, mailoutbox, django_capture_on_commit_callbacks
):
    members = api.alice.get(ORGS + "acme/members/").json()["results"]
    assert {(m["username"], m["role"]) for m in members} == {
        ("alice", "admin"),
        ("bob", "member"),
    }
    url = ORGS + "acme/invitations/"
    with django_capture_on_commit_callbacks(execute=True):
        invited = api.alice.post(url, {"email": "eve@example.test", "role": "member"})
    assert invited.status_code == 201
    assert invited.json()["status"] == "pending"
    assert len(mailoutbox) == 1
    assert api.alice.post(url, {"email": "bob@example.test"}).status_code == 400
    pk = invited.json()["code"]
    assert api.alice.delete(f"{url}{pk}/").status_code == 204
    assert api.alice.get(f"{url}{pk}/").json()["status"] == "revoked"
