"""The management token admin: an organization's admins list, create (the
secret shown once) and revoke their organization's tokens; the hash never shows."""

from __future__ import annotations

import pytest
from django.test import Client

from api.models import ManagementToken
from gateway.apikeys import hash_secret

LIST = "/admin/api/managementtoken/"
ADD = LIST + "add/"


@pytest.fixture
def alice_client(world):
    client = Client()
    client.force_login(world.alice)
    return client


def test_an_org_admin_sees_only_her_organizations_tokens(world, alice_client):
    ours, _ = ManagementToken.issue(world.acme, world.alice, "acme-ci", "admin")
    theirs, _ = ManagementToken.issue(world.globex, world.charlie, "globex-ci", "admin")
    listing = alice_client.get(LIST)
    assert listing.status_code == 200
    text = listing.content.decode()
    assert "acme-ci" in text and "globex-ci" not in text
    assert ours.secret_hash not in text
    page = alice_client.get(f"{LIST}{ours.pk}/change/")
    assert page.status_code == 200
    assert ours.secret_hash not in page.content.decode()
    assert ours.prefix in page.content.decode()
    assert alice_client.get(f"{LIST}{theirs.pk}/change/").status_code == 404


def test_creating_shows_the_secret_once_and_stores_its_hash(world, alice_client):
    form = alice_client.get(ADD).content.decode()
    assert "Globex" not in form  # only organizations she administers
    response = alice_client.post(
        ADD, {"name": "deploy", "organization": world.acme.pk, "role": "admin"}
    )
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    token = ManagementToken.objects.get(name="deploy")
    secret = response.context["secret"]
    assert secret.startswith("mgmt_") and secret in response.content.decode()
    assert token.secret_hash == hash_secret(secret)
    assert token.user == world.alice and token.organization == world.acme
    # It works against the API, and no later page shows it again.
    api = Client(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert api.get("/api/v1/organizations/acme/").status_code == 200
    for url in (LIST, f"{LIST}{token.pk}/change/"):
        assert secret not in alice_client.get(url).content.decode()


def test_an_organization_is_required_and_must_be_hers(world, alice_client):
    missing = alice_client.post(ADD, {"name": "x", "role": "admin"})
    assert missing.status_code == 200
    assert "This field is required" in missing.content.decode()
    foreign = alice_client.post(
        ADD, {"name": "x", "organization": world.globex.pk, "role": "admin"}
    )
    assert "Select a valid choice" in foreign.content.decode()
    assert not ManagementToken.objects.filter(name="x").exists()


def test_revoking_from_the_list_stops_the_token(world, alice_client):
    token, secret = ManagementToken.issue(world.acme, world.alice, "old", "admin")
    response = alice_client.post(
        LIST, {"action": "revoke_tokens", "_selected_action": [token.pk]}, follow=True
    )
    assert "Revoked 1 token(s)." in response.content.decode()
    token.refresh_from_db()
    assert token.revoked_at is not None
    api = Client(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert api.get("/api/v1/organizations/acme/").status_code == 401


def test_a_member_who_is_not_an_admin_has_no_token_page(world):
    world.bob.is_staff = True
    world.bob.save()
    client = Client()
    client.force_login(world.bob)
    assert client.get(LIST).status_code == 403


def test_the_organization_filter_offers_no_organization_less_choice_she_has_none_of(
    world, alice_client
):
    """Org-less tokens are a superuser's: an org admin's filter does not offer
    "-" (organization__isnull) for rows she can never see."""
    ManagementToken.issue(world.acme, world.alice, "acme-ci", "admin")
    text = alice_client.get(LIST).content.decode()
    assert "role__exact" in text  # the filter sidebar is on the page
    # Before: "-" beside acme; now acme alone, nothing to filter by.
    assert "organization__isnull" not in text
