"""The user pages act in one organization at a time, chosen and remembered."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import Membership, User
from gateway.models import ApiKey
from models_catalog.models import Grant
from tests.conftest import World
from tests.factories import AIModelFactory, ProviderFactory, UserFactory


@pytest.fixture
def dan(world: World) -> User:
    dan = UserFactory(username="dan")
    Membership.objects.create(user=dan, organization=world.acme)
    Membership.objects.create(
        user=dan, organization=world.globex, role=Membership.Role.ADMIN
    )
    return dan


@pytest.fixture
def models(world: World) -> dict[str, str]:
    acme = AIModelFactory(
        provider=ProviderFactory(organization=world.acme), model_id="acme-shared"
    )
    Grant.objects.create(model=acme, organization=world.acme)
    AIModelFactory(
        provider=ProviderFactory(organization=world.globex), model_id="globex-private"
    )
    return {"acme": "acme-shared", "globex": "globex-private"}


def signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_first_organization_by_name_is_the_default(
    world: World, dan: User, models: dict[str, str]
) -> None:
    page = signed_in(dan).get("/models/").content.decode()
    assert "acme-shared" in page  # "Acme Corp" sorts before "Globex"
    assert "globex-private" not in page


def test_switching_shows_the_other_organization_and_is_remembered(
    world: World, dan: User, models: dict[str, str]
) -> None:
    """Issue 8: the pages showed every membership's models at once."""
    client = signed_in(dan)
    answer = client.post("/organization/", {"organization": "globex"})
    assert answer.status_code == 302 and answer["Location"] == "/"
    for _ in range(2):  # remembered in the session
        page = client.get("/models/").content.decode()
        assert "globex-private" in page
        assert "acme-shared" not in page


def test_the_switcher_lists_only_the_users_organizations(
    world: World, dan: User
) -> None:
    page = signed_in(dan).get("/models/").content.decode()
    assert 'id="org-switcher"' in page
    assert 'value="acme"' in page and 'value="globex"' in page
    assert (
        'id="org-switcher"' not in signed_in(world.bob).get("/models/").content.decode()
    )


def test_an_organization_one_is_not_a_member_of_is_404_like_a_missing_one(
    world: World, models: dict[str, str]
) -> None:
    client = signed_in(world.bob)
    foreign = client.post("/organization/", {"organization": "globex"})
    missing = client.post("/organization/", {"organization": "no-such-org"})
    assert foreign.status_code == missing.status_code == 404
    assert foreign.content == missing.content
    assert "acme-shared" in client.get("/models/").content.decode()


def test_the_switcher_never_redirects_off_site(world: World, dan: User) -> None:
    answer = signed_in(dan).post(
        "/organization/", {"organization": "globex", "next": "https://evil.test/"}
    )
    assert answer["Location"] == "/"


def test_leaving_the_chosen_organization_falls_back_to_another(
    world: World, dan: User, models: dict[str, str]
) -> None:
    client = signed_in(dan)
    client.post("/organization/", {"organization": "globex"})
    Membership.objects.filter(user=dan, organization=world.globex).delete()
    page = client.get("/models/").content.decode()
    assert "acme-shared" in page and "globex-private" not in page


def test_keys_are_listed_created_and_revoked_in_the_current_organization_only(
    world: World, dan: User
) -> None:
    acme_key, _ = ApiKey.issue(organization=world.acme, user=dan, name="dan-acme")
    globex_key, _ = ApiKey.issue(organization=world.globex, user=dan, name="dan-globex")
    client = signed_in(dan)
    page = client.get("/keys/").content.decode()
    assert "dan-acme" in page and "dan-globex" not in page
    assert client.post(f"/keys/{globex_key.pk}/revoke").status_code == 404
    client.post("/keys/", {"name": "laptop"})
    assert ApiKey.objects.get(name="laptop").organization == world.acme
    client.post("/organization/", {"organization": "globex"})
    assert client.post(f"/keys/{globex_key.pk}/revoke").status_code == 302
    globex_key.refresh_from_db()
    acme_key.refresh_from_db()
    assert globex_key.is_revoked and not acme_key.is_revoked


def test_a_user_without_organizations_sees_an_empty_page(db: None) -> None:
    loner = UserFactory(username="loner")
    client = signed_in(loner)
    assert client.get("/models/").status_code == 200
    keys = client.get("/keys/")
    assert "not a member of any organization" in keys.content.decode()
    assert client.post("/keys/", {"name": "x"}).status_code == 200
    assert not ApiKey.objects.exists()
