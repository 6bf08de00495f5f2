"""No save, delete or bulk delete in the admin takes an organization's last admin."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.test import Client

from accounts.models import Membership, User
from tests.conftest import World
from tests.factories import UserFactory

ORGS_URL = "/admin/accounts/organization/"
MEMBERS_URL = "/admin/accounts/membership/"
USERS_URL = "/admin/accounts/user/"
LEFT_WITHOUT = "would be left without an admin"

pytestmark = pytest.mark.django_db


def login(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def root(db: None) -> User:
    return UserFactory(username="root", is_staff=True, is_superuser=True)


def roles(world: World) -> dict[str, str]:
    return dict(
        Membership.objects.filter(organization=world.acme).values_list(
            "user__username", "role"
        )
    )


def said(response: object) -> str:
    return " ".join(str(m) for m in get_messages(response.wsgi_request))  # type: ignore[attr-defined]  # a test client response


@pytest.mark.parametrize("who", ["alice", "root"])
def test_the_last_admin_is_not_demoted_in_the_membership_form(
    world: World, root: User, who: str
) -> None:
    client = login(world.alice if who == "alice" else root)
    alice_m = Membership.objects.get(user=world.alice)
    data = {"role": "member"}
    if who == "root":
        data |= {"user": "alice", "organization": world.acme.pk}
    response = client.post(f"{MEMBERS_URL}{alice_m.pk}/change/", data)
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors["role"]
    assert LEFT_WITHOUT in errors[0] and "Acme" in errors[0]
    assert roles(world) == {"alice": "admin", "bob": "member"}


def test_a_superuser_cannot_move_the_last_admin_elsewhere(
    world: World, root: User
) -> None:
    alice_m = Membership.objects.get(user=world.alice)
    response = login(root).post(
        f"{MEMBERS_URL}{alice_m.pk}/change/",
        {"user": "alice", "organization": world.globex.pk, "role": "admin"},
    )
    assert response.status_code == 200
    alice_m.refresh_from_db()
    assert alice_m.organization == world.acme


@pytest.mark.parametrize("who", ["alice", "root"])
def test_the_last_admin_membership_is_not_deleted(
    world: World, root: User, who: str
) -> None:
    client = login(world.alice if who == "alice" else root)
    alice_m = Membership.objects.get(user=world.alice)
    url = f"{MEMBERS_URL}{alice_m.pk}/delete/"
    for response in [client.get(url), client.post(url, {"post": "yes"})]:
        assert response.status_code == 302
        assert response["Location"] == f"{MEMBERS_URL}{alice_m.pk}/change/"
        assert LEFT_WITHOUT in said(response)
    assert roles(world) == {"alice": "admin", "bob": "member"}


def test_bulk_delete_refuses_when_it_takes_the_last_admin(world: World) -> None:
    client = login(world.alice)
    ids = list(
        Membership.objects.filter(organization=world.acme).values_list("pk", flat=True)
    )
    response = client.post(
        MEMBERS_URL,
        {"action": "delete_selected", "_selected_action": ids, "post": "yes"},
    )
    assert response.status_code == 302
    assert LEFT_WITHOUT in said(response)
    assert roles(world) == {"alice": "admin", "bob": "member"}
    # Without the last admin in the selection the bulk delete works.
    bob_id = Membership.objects.get(user=world.bob).pk
    client.post(
        MEMBERS_URL,
        {"action": "delete_selected", "_selected_action": [bob_id], "post": "yes"},
    )
    assert roles(world) == {"alice": "admin"}


def test_one_of_two_admins_may_go(world: World) -> None:
    bob_m = Membership.objects.get(user=world.bob)
    bob_m.role = Membership.Role.ADMIN
    bob_m.save()
    alice_m = Membership.objects.get(user=world.alice)
    client = login(world.alice)
    response = client.post(f"{MEMBERS_URL}{alice_m.pk}/change/", {"role": "member"})
    assert response.status_code == 302
    assert roles(world) == {"alice": "member", "bob": "admin"}


def inline_data(
    world: World, alice_role: str, bob_role: str, delete: str = ""
) -> dict[str, object]:
    alice_m = Membership.objects.get(user=world.alice)
    bob_m = Membership.objects.get(user=world.bob)
    data: dict[str, object] = {
        "name": "Acme",
        "memberships-TOTAL_FORMS": "2",
        "memberships-INITIAL_FORMS": "2",
        "memberships-MIN_NUM_FORMS": "0",
        "memberships-MAX_NUM_FORMS": "1000",
        "memberships-0-id": alice_m.pk,
        "memberships-0-organization": world.acme.pk,
        "memberships-0-role": alice_role,
        "memberships-1-id": bob_m.pk,
        "memberships-1-organization": world.acme.pk,
        "memberships-1-role": bob_role,
    }
    if delete:
        data[f"memberships-{delete}-DELETE"] = "on"
    return data


@pytest.mark.parametrize(
    ("alice_role", "bob_role", "delete"),
    [("member", "member", ""), ("admin", "member", "0"), ("admin", "admin", "0,1")],
)
def test_the_organization_inline_keeps_an_admin(
    world: World, alice_role: str, bob_role: str, delete: str
) -> None:
    data = inline_data(world, alice_role, bob_role)
    for index in filter(None, delete.split(",")):
        data[f"memberships-{index}-DELETE"] = "on"
    response = login(world.alice).post(f"{ORGS_URL}{world.acme.pk}/change/", data)
    assert response.status_code == 200
    assert any(
        LEFT_WITHOUT in str(e)
        for e in response.context["inline_admin_formsets"][0].formset.non_form_errors()
    )
    assert roles(world) == {"alice": "admin", "bob": "member"}


def test_the_inline_hands_over_the_admin_role_in_one_save(world: World) -> None:
    response = login(world.alice).post(
        f"{ORGS_URL}{world.acme.pk}/change/", inline_data(world, "member", "admin")
    )
    assert response.status_code == 302
    assert roles(world) == {"alice": "member", "bob": "admin"}


def test_a_superuser_cannot_delete_a_user_who_is_a_last_admin(
    world: World, root: User
) -> None:
    client = login(root)
    response = client.post(f"{USERS_URL}{world.alice.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert LEFT_WITHOUT in said(response)
    response = client.post(
        USERS_URL,
        {
            "action": "delete_selected",
            "_selected_action": [world.alice.pk, world.bob.pk],
            "post": "yes",
        },
    )
    assert LEFT_WITHOUT in said(response)
    assert User.objects.filter(username__in=["alice", "bob"]).count() == 2
    # A plain member goes.
    client.post(f"{USERS_URL}{world.bob.pk}/delete/", {"post": "yes"})
    assert not User.objects.filter(username="bob").exists()
