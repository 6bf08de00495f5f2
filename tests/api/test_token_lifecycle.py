"""Management tokens over time: expiry, names that come free, and what a token
may mint."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from api import keys
from api.models import ManagementToken
from tests.api.conftest import Api

TOKENS = "organizations/acme/tokens/"


def test_a_token_that_expired_after_the_server_started_is_no_longer_listed(world, api):
    # Expired a moment ago: after this process imported the API's views.
    assert keys.TokenViewSet.queryset is not None
    token, _ = ManagementToken.issue(
        world.acme,
        world.alice,
        "gone",
        "admin",
        expires_at=timezone.now() - timedelta(milliseconds=1),
    )
    listed = api.alice.get(TOKENS).json()["results"]
    assert "gone" not in [t["name"] for t in listed]
    assert api.alice.get(f"{TOKENS}{token.code}/").status_code == 404


def test_the_name_of_an_expired_token_can_be_used_again(world, api):
    old, _ = ManagementToken.issue(
        world.acme,
        world.alice,
        "ci",
        "admin",
        expires_at=timezone.now() - timedelta(days=365),
    )
    created = api.alice.post(TOKENS, {"name": "ci", "role": "read_only"})
    assert created.status_code == 201, created.content
    api.secrets.values.add(created.json()["secret"])
    old.refresh_from_db()
    assert old.revoked_at is not None
    again = api.alice.post(TOKENS, {"name": "ci", "role": "read_only"})
    assert again.status_code == 400
    assert again.json() == {"name": ["A live token of this name exists."]}


def test_a_token_that_expires_in_the_past_is_refused(api):
    response = api.alice.post(
        TOKENS, {"name": "late", "role": "admin", "expires_at": "2001-01-01T00:00Z"}
    )
    assert response.status_code == 400
    assert list(response.json()) == ["expires_at"]
    assert not ManagementToken.objects.filter(name="late").exists()


def test_an_expiring_token_cannot_mint_a_token_that_outlives_it(world, api):
    ends = timezone.now() + timedelta(hours=1)
    _, secret = ManagementToken.issue(
        world.acme, world.alice, "short", "admin", expires_at=ends
    )
    api.secrets.values.add(secret)
    short = Api(api.secrets, secret)
    forever = short.post(TOKENS, {"name": "forever", "role": "admin"})
    assert forever.status_code == 201
    api.secrets.values.add(forever.json()["secret"])
    assert ManagementToken.objects.get(name="forever").expires_at == ends
    later = (ends + timedelta(days=1)).isoformat()
    refused = short.post(TOKENS, {"name": "x", "role": "admin", "expires_at": later})
    assert refused.status_code == 400
    assert list(refused.json()) == ["expires_at"]
    # A token without an expiry (or the session) chooses freely.
    free = api.alice.post(TOKENS, {"name": "y", "role": "admin", "expires_at": later})
    assert free.status_code == 201
    api.secrets.values.add(free.json()["secret"])
