"""Admin access follows membership roles; organizations and members are scoped."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import Membership, User
from tests.conftest import World
from tests.factories import OrganizationFactory, ProviderFactory, UserFactory

ORGS_URL = "/admin/accounts/organization/"
MEMBERS_URL = "/admin/accounts/membership/"
USERS_URL = "/admin/accounts/user/"


def login(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def app_models(client: Client) -> set[str]:
    response = client.get("/admin/")
    assert response.status_code == 200
    return {
        model["object_name"]
        for app in response.context["app_list"]
        for model in app["models"]
    }


@pytest.fixture
def root(db: None) -> User:
    return UserFactory(username="root", is_staff=True, is_superuser=True)


def test_an_org_admin_manages_providers_models_grants_and_members(
    world: World,
) -> None:
    models = app_models(login(world.alice))
    assert {"Organization", "Membership", "Provider", "AIModel", "Grant"} <= models
    assert "User" not in models


def test_a_staff_member_without_the_admin_role_has_nothing_to_manage(
    world: World,
) -> None:
    world.bob.is_staff = True
    world.bob.save()
    client = login(world.bob)
    assert app_models(client) == set()
    assert client.get(ORGS_URL).status_code == 403
    assert client.get(MEMBERS_URL).status_code == 403


def test_a_user_who_is_not_staff_cannot_open_the_admin(world: World) -> None:
    response = login(world.bob).get("/admin/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_a_superuser_manages_everything_including_users(root: User) -> None:
    assert {"Organization", "Membership", "User", "Provider"} <= app_models(login(root))


def test_only_superusers_manage_users(world: World, root: User) -> None:
    assert login(world.alice).get(USERS_URL).status_code == 403
    assert login(world.alice).get(f"{USERS_URL}{world.bob.pk}/change/").status_code in (
        403,
        404,
    )
    assert login(root).get(USERS_URL).status_code == 200


def test_an_org_admin_sees_only_their_organization(world: World) -> None:
    response = login(world.alice).get(ORGS_URL)
    assert list(response.context["cl"].result_list) == [world.acme]
    assert "Globex" not in response.content.decode()


def test_another_org_admin_gets_404_on_the_organization(world: World) -> None:
    client = login(world.charlie)
    assert client.get(f"{ORGS_URL}{world.acme.pk}/change/").status_code == 404


def test_only_superusers_create_or_delete_organizations(
    world: World, root: User
) -> None:
    alice = login(world.alice)
    assert alice.get(f"{ORGS_URL}add/").status_code == 403
    assert alice.get(f"{ORGS_URL}{world.acme.pk}/delete/").status_code == 403
    assert login(root).get(f"{ORGS_URL}add/").status_code == 200


def inline_post(world: World, third_user: str) -> dict[str, object]:
    """The acme page: alice stays admin, bob is removed, ``third_user`` is added."""
    alice_m = Membership.objects.get(user=world.alice, organization=world.acme)
    bob_m = Membership.objects.get(user=world.bob, organization=world.acme)
    prefix = "memberships"
    return {
        "name": "Acme Corporation",
        f"{prefix}-TOTAL_FORMS": "3",
        f"{prefix}-INITIAL_FORMS": "2",
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
        f"{prefix}-0-id": alice_m.pk,
        f"{prefix}-0-organization": world.acme.pk,
        f"{prefix}-0-user": "alice",
        f"{prefix}-0-role": "admin",
        f"{prefix}-1-id": bob_m.pk,
        f"{prefix}-1-organization": world.acme.pk,
        f"{prefix}-1-user": "bob",
        f"{prefix}-1-role": "member",
        f"{prefix}-1-DELETE": "on",
        f"{prefix}-2-organization": world.acme.pk,
        f"{prefix}-2-user": third_user,
        f"{prefix}-2-role": "member",
        "_save": "Save",
    }


def test_a_superuser_adds_a_member_through_the_organization_inline(
    world: World, root: User
) -> None:
    newcomer = UserFactory(username="dave")
    response = login(root).post(
        f"{ORGS_URL}{world.acme.pk}/change/",
        {**inline_post(world, "dave"), "slug": "acme"},
    )
    assert response.status_code == 302, response.context["errors"]
    world.acme.refresh_from_db()
    assert world.acme.name == "Acme Corporation"
    assert world.acme.slug == "acme"
    members = set(
        Membership.objects.filter(organization=world.acme).values_list(
            "user__username", flat=True
        )
    )
    assert members == {"alice", "dave"}
    assert newcomer.memberships.get().role == Membership.Role.MEMBER


@pytest.mark.parametrize("username", ["dave", "charlie", "nobody"])
def test_an_org_admin_cannot_attach_a_user_through_the_inline(
    world: World, username: str
) -> None:
    """Issue 8: acme's admin attached globex's admin to acme with no consent.

    Issue 10: org admins invite instead; the inline offers no new row to them,
    and a posted one is ignored whoever it names (the rest of the save holds).
    """
    UserFactory(username="dave")
    client = login(world.alice)
    page = client.get(f"{ORGS_URL}{world.acme.pk}/change/")
    formset = page.context["inline_admin_formsets"][0]
    assert formset.formset.max_num == 0
    assert not formset.has_add_permission
    response = client.post(
        f"{ORGS_URL}{world.acme.pk}/change/", inline_post(world, username)
    )
    assert response.status_code == 302
    members = set(
        Membership.objects.filter(organization=world.acme).values_list(
            "user__username", flat=True
        )
    )
    assert members == {"alice"}  # bob removed as asked, nobody attached
    assert (
        not Membership.objects.filter(user__username=username)
        .exclude(user__username="charlie")
        .exists()
    )
    assert Membership.objects.get(user=world.charlie).organization == world.globex


def test_the_organization_page_shows_members_without_listing_other_users(
    world: World,
) -> None:
    body = login(world.alice).get(f"{ORGS_URL}{world.acme.pk}/change/").content
    page = body.decode()
    assert "bob" in page  # shown, not editable: the role is
    assert 'value="bob"' not in page
    assert "charlie" not in page


def test_an_org_admin_lists_only_their_organizations_memberships(
    world: World,
) -> None:
    response = login(world.alice).get(MEMBERS_URL)
    users = {m.user.username for m in response.context["cl"].result_list}
    assert users == {"alice", "bob"}
    assert "charlie" not in response.content.decode()


def test_another_org_admin_gets_404_on_a_membership(world: World) -> None:
    membership = Membership.objects.get(user=world.bob)
    client = login(world.charlie)
    assert client.get(f"{MEMBERS_URL}{membership.pk}/change/").status_code == 404
    assert (
        client.post(
            f"{MEMBERS_URL}{membership.pk}/delete/", {"post": "yes"}
        ).status_code
        == 404
    )
    assert Membership.objects.filter(pk=membership.pk).exists()


def test_an_org_admin_removes_members_and_a_superuser_adds_them(
    world: World, root: User
) -> None:
    UserFactory(username="erin")
    response = login(root).post(
        f"{MEMBERS_URL}add/",
        {"user": "erin", "organization": world.acme.pk, "role": "member"},
    )
    assert response.status_code == 302
    membership = Membership.objects.get(user__username="erin")
    assert membership.organization == world.acme
    client = login(world.alice)
    response = client.post(f"{MEMBERS_URL}{membership.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Membership.objects.filter(user__username="erin").exists()


def test_an_org_admin_cannot_add_memberships_at_all(world: World) -> None:
    """Issue 10: the "add any username" path is gone for org admins; they
    invite. The answer is the same 403 for every name, so it tells nothing
    about who exists."""
    UserFactory(username="erin")  # a user of the instance in no organization
    client = login(world.alice)
    assert client.get(f"{MEMBERS_URL}add/").status_code == 403
    for name in ["charlie", "erin", "nobody", "bob"]:
        response = client.post(
            f"{MEMBERS_URL}add/",
            {"user": name, "organization": world.acme.pk, "role": "admin"},
        )
        assert response.status_code == 403
    assert set(
        Membership.objects.filter(organization=world.acme).values_list(
            "user__username", flat=True
        )
    ) == {"alice", "bob"}
    changelist = client.get(MEMBERS_URL)
    assert not changelist.context["has_add_permission"]


def test_an_org_admin_changes_only_the_role_of_a_membership(
    world: World,
) -> None:
    initech = OrganizationFactory(slug="initech", name="Initech")
    Membership.objects.create(
        user=world.alice, organization=initech, role=Membership.Role.ADMIN
    )
    bob_m = Membership.objects.get(user=world.bob)
    client = login(world.alice)
    form = client.get(f"{MEMBERS_URL}{bob_m.pk}/change/").context["adminform"].form
    assert list(form.fields) == ["role"]
    # Moving bob to initech (or swapping the user) is attaching: not a field.
    response = client.post(
        f"{MEMBERS_URL}{bob_m.pk}/change/",
        {"user": "charlie", "organization": initech.pk, "role": "admin"},
    )
    assert response.status_code == 302
    bob_m.refresh_from_db()
    assert (bob_m.user, bob_m.organization, bob_m.role) == (
        world.bob,
        world.acme,
        Membership.Role.ADMIN,
    )


def test_a_superuser_picks_any_organization_for_a_membership(
    world: World, root: User
) -> None:
    response = login(root).get(f"{MEMBERS_URL}add/")
    form = response.context["adminform"].form
    assert set(form.fields["organization"].queryset) == {world.acme, world.globex}


def test_an_unknown_username_is_refused_plainly_to_a_superuser(
    world: World, root: User
) -> None:
    response = login(root).post(
        f"{MEMBERS_URL}add/",
        {"user": "nobody", "organization": world.acme.pk, "role": "member"},
    )
    form = response.context["adminform"].form
    assert form.errors["user"] == ["There is no active user with that name."]


def test_access_ends_when_the_admin_role_does(world: World) -> None:
    ProviderFactory(organization=world.acme, name="acme-openai")
    Membership.objects.filter(user=world.alice).update(role=Membership.Role.MEMBER)
    client = login(world.alice)
    assert app_models(client) == set()
    assert client.get("/admin/providers/provider/").status_code == 403


def test_an_admin_membership_makes_the_user_staff(world):
    from accounts.models import Membership
    from tests.factories import UserFactory

    dave = UserFactory(username="dave")
    assert not dave.is_staff
    Membership.objects.create(user=dave, organization=world.acme, role="member")
    dave.refresh_from_db()
    assert not dave.is_staff
    Membership.objects.filter(user=dave).delete()
    Membership.objects.create(user=dave, organization=world.acme, role="admin")
    dave.refresh_from_db()
    assert dave.is_staff


def test_every_relation_list_filter_of_every_admin_is_scoped(world: World) -> None:
    """A plain RelatedFieldListFilter lists every tenant's rows (issue 8)."""
    from django.contrib import admin
    from django.contrib.admin.utils import get_fields_from_path
    from django.test import RequestFactory

    from accounts.access import ScopedRelatedFieldListFilter

    request = RequestFactory().get("/admin/")
    request.user = world.alice
    checked = 0
    for model, model_admin in admin.site._registry.items():
        if not hasattr(model_admin, "scope_q"):
            continue  # superuser-only admins (users, groups)
        for entry in model_admin.get_list_filter(request):
            path = entry[0] if isinstance(entry, tuple) else entry
            if not isinstance(path, str):
                continue  # a SimpleListFilter (invitation status) names no rows
            if get_fields_from_path(model, path)[-1].is_relation:
                assert entry == (path, ScopedRelatedFieldListFilter), (model, path)
                checked += 1
    assert checked >= 6  # memberships, invitations, providers, models (2), keys, usage
