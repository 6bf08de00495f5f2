"""The invitee's page: join with an account, or create one; dead links say so."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone

from accounts import invitations
from accounts.access import SESSION_ORGANIZATION
from accounts.models import Invitation, Membership, User
from portal.invitations import NAME_TRIES, TOO_MANY_NAMES, USERNAME_TAKEN
from tests.conftest import World

pytestmark = pytest.mark.django_db
GOOD_PASSWORD = "a long and unusual passphrase 42"
DEAD = "This invitation link cannot be used"


@pytest.fixture
def invited(
    world: World, django_capture_on_commit_callbacks: Any
) -> tuple[Invitation, str]:
    with django_capture_on_commit_callbacks(execute=True):
        invitation = invitations.invite(
            world.acme, "erin@example.test", "member", world.alice, "http://testserver/"
        )
    match = re.search(
        r"http://testserver(/invitations/\S+/)", str(mail.outbox[-1].body)
    )
    assert match
    return invitation, match.group(1)


def account(username: str = "erin", **extra: str) -> dict[str, str]:
    return {
        "action": "create",
        "username": username,
        "password1": GOOD_PASSWORD,
        "password2": GOOD_PASSWORD,
        **extra,
    }


def test_the_page_shows_organization_role_and_inviter(
    invited: tuple[Invitation, str],
) -> None:
    _, path = invited
    response = Client().get(path)
    assert response.status_code == 200
    body = response.content.decode()
    assert "Join Acme" in body and "alice" in body and "Member" in body
    assert "erin@example.test" in body
    assert f'href="/accounts/login/?next={path}"' in body
    assert (
        "no-store" in response["Cache-Control"]
        or "max-age=0" in response["Cache-Control"]
    )
    assert response["Referrer-Policy"] == "same-origin"


def test_a_new_person_creates_an_account_and_lands_home_as_a_member(
    world: World, invited: tuple[Invitation, str]
) -> None:
    _, path = invited
    client = Client()
    response = client.post(path, account(email="evil@example.test"))
    assert response.status_code == 302 and response["Location"] == "/"
    erin = User.objects.get(username="erin")
    assert erin.email == "erin@example.test"  # the invitation's, not the form's
    assert erin.check_password(GOOD_PASSWORD)
    assert not erin.is_staff and not erin.is_superuser
    membership = Membership.objects.get(user=erin)
    assert (membership.organization, membership.role) == (world.acme, "member")
    home = client.get("/")
    assert home.status_code == 200 and home.wsgi_request.user == erin
    assert client.session[SESSION_ORGANIZATION] == world.acme.pk
    assert "You joined Acme" in home.content.decode()


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (account("bob"), "username"),
        (account("BOB"), "username"),
        (account(password2="something else entirely 42"), "password2"),
        (account(password1="password", password2="password"), "password2"),
        (account(""), "username"),
    ],
)
def test_bad_account_input_changes_nothing(
    world: World, invited: tuple[Invitation, str], data: dict[str, str], field: str
) -> None:
    invitation, path = invited
    users = User.objects.count()
    response = Client().post(path, data)
    assert response.status_code == 200
    assert field in response.context["form"].errors
    assert User.objects.count() == users
    invitation.refresh_from_db()
    assert invitation.is_pending


def test_a_taken_username_gets_one_plain_message(
    world: World, invited: tuple[Invitation, str]
) -> None:
    _, path = invited
    response = Client().post(path, account("bob"))
    assert response.context["form"].errors["username"] == [USERNAME_TAKEN]
    assert "already exists" not in response.content.decode()


def test_a_link_cannot_list_the_instances_usernames(
    world: World, invited: tuple[Invitation, str]
) -> None:
    """Found in review: one link could ask "taken?" of any number of names.
    After NAME_TRIES "taken" answers a link gets the same refusal for every
    name, taken or free, so it stops telling which exist."""
    from django.core.cache import cache

    invitation, path = invited
    tries = f"invitation-name-tries:{invitation.pk}"
    cache.delete(tries)
    for name in ["bob", "alice", "charlie", "Bob", "ALICE"][:NAME_TRIES]:
        answer = Client().post(path, account(name))
        assert answer.context["form"].errors["username"] == [USERNAME_TAKEN]
    taken = Client().post(path, account("charlie"))
    free = Client().post(path, account("nobody-has-this-name"))
    for answer in (taken, free):
        assert answer.status_code == 200
        assert answer.context["form"].errors["username"] == [TOO_MANY_NAMES]
    assert not User.objects.filter(username="nobody-has-this-name").exists()
    invitation.refresh_from_db()
    assert invitation.is_pending
    cache.delete(tries)


def test_a_signed_in_user_joins_with_their_account(
    world: World, invited: tuple[Invitation, str]
) -> None:
    _, path = invited
    client = Client()
    client.force_login(world.charlie)
    page = client.get(path)
    assert 'id="join"' in page.content.decode()
    assert "create-account" not in page.content.decode()
    response = client.post(path, {"action": "join"})
    assert response.status_code == 302 and response["Location"] == "/"
    assert (
        Membership.objects.get(user=world.charlie, organization=world.acme).role
        == "member"
    )
    assert client.session[SESSION_ORGANIZATION] == world.acme.pk
    # A second submit: the link is used, nothing else happens.
    again = client.post(path, {"action": "join"})
    assert again.status_code == 302
    assert Membership.objects.filter(user=world.charlie).count() == 2


def test_accepting_requires_the_csrf_token(
    world: World, invited: tuple[Invitation, str]
) -> None:
    _, path = invited
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.charlie)
    assert client.post(path, {"action": "join"}).status_code == 403
    assert Client(enforce_csrf_checks=True).post(path, account()).status_code == 403
    assert not Membership.objects.filter(
        user=world.charlie, organization=world.acme
    ).exists()
    assert not User.objects.filter(username="erin").exists()


def dead_page(path: str, status: int) -> None:
    for client in [Client(), Client()]:
        response = client.get(path)
        assert response.status_code == status
        assert DEAD in response.content.decode()
        response = client.post(path, account("zed"))
        assert response.status_code == status
    assert not User.objects.filter(username="zed").exists()


def test_used_expired_and_revoked_links_answer_410_alike(
    world: World, invited: tuple[Invitation, str]
) -> None:
    invitation, path = invited
    Invitation.objects.filter(pk=invitation.pk).update(
        expires_at=timezone.now() - timedelta(1)
    )
    dead_page(path, 410)
    Invitation.objects.filter(pk=invitation.pk).update(
        expires_at=timezone.now() + timedelta(1), revoked_at=timezone.now()
    )
    dead_page(path, 410)
    Invitation.objects.filter(pk=invitation.pk).update(
        revoked_at=None, accepted_at=timezone.now(), accepted_by=world.bob
    )
    dead_page(path, 410)


@pytest.mark.parametrize("token", ["nope", "A" * 43, "A" * 300])
def test_unknown_links_answer_404_with_the_same_page(world: World, token: str) -> None:
    dead_page(f"/invitations/{token}/", 404)


def test_a_double_submit_of_the_account_form_creates_one_account(
    world: World, invited: tuple[Invitation, str]
) -> None:
    _, path = invited
    assert Client().post(path, account()).status_code == 302
    second = Client().post(path, account("erin2"))
    assert second.status_code == 410
    assert list(
        User.objects.filter(username__startswith="erin").values_list(
            "username", flat=True
        )
    ) == ["erin"]


def test_the_token_is_never_echoed_beyond_the_link(
    world: World, invited: tuple[Invitation, str]
) -> None:
    invitation, path = invited
    token = path.split("/")[2]
    body = Client().get(path).content.decode()
    # In the page only as the login link's "next" (the page's own address).
    assert body.count(token) == 1
    assert invitation.token_hash not in body
