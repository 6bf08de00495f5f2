"""Invitations: the domain functions, the email, and the scoped Invitation admin."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone

from accounts import invitations
from accounts.models import Invitation, Membership, User
from tests.conftest import World
from tests.factories import OrganizationFactory, UserFactory

INVITATIONS_URL = "/admin/accounts/invitation/"
BASE = "http://testserver/"
LINK = re.compile(r"http://testserver/invitations/([A-Za-z0-9_-]+)/")

pytestmark = pytest.mark.django_db


def login(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def sent(
    world: World, django_capture_on_commit_callbacks: Any
) -> Callable[..., tuple[Invitation, str]]:
    """``sent(email, role=..., org=...)``: invite, and return the emailed token."""

    def send(
        email: str, role: str = Membership.Role.MEMBER, org: Any = None
    ) -> tuple[Invitation, str]:
        with django_capture_on_commit_callbacks(execute=True):
            invitation = invitations.invite(
                org or world.acme, email, role, world.alice, BASE
            )
        match = LINK.search(str(mail.outbox[-1].body))
        assert match
        return invitation, match.group(1)

    return send


# -- The token and the email ---------------------------------------------------


def test_the_email_carries_the_link_and_only_the_hash_is_stored(
    world: World, sent: Callable[..., tuple[Invitation, str]]
) -> None:
    invitation, token = sent("New.Person@Example.TEST")
    message = mail.outbox[-1]
    assert message.to == ["New.Person@example.test"]  # the domain normalized
    assert "Acme" in message.subject
    assert "alice" in message.body and "as a member" in message.body
    assert message.body.count(token) == 1  # in the link, nowhere else
    assert token not in message.subject
    invitation.refresh_from_db()
    assert invitation.token_hash == invitations.hash_token(token)
    row = Invitation.objects.filter(pk=invitation.pk).values().get()
    assert token not in str(row)
    assert invitation.status == Invitation.Status.PENDING
    days = (invitation.expires_at - timezone.now()).days
    assert days == 6  # INVITATION_EXPIRY_DAYS=7, minus the running second


def test_expiry_follows_the_setting(
    settings: Any, sent: Callable[..., tuple[Invitation, str]]
) -> None:
    settings.INVITATION_EXPIRY_DAYS = 2
    invitation, _ = sent("short@example.test")
    assert timedelta(days=1) < invitation.expires_at - timezone.now() <= timedelta(2)


def test_inviting_the_same_email_again_replaces_the_open_invitation(
    world: World, sent: Callable[..., tuple[Invitation, str]]
) -> None:
    first, old_token = sent("erin@example.test")
    second, new_token = sent("ERIN@example.test", role=Membership.Role.ADMIN)
    assert second.pk == first.pk
    assert Invitation.objects.count() == 1
    assert second.role == Membership.Role.ADMIN
    with pytest.raises(invitations.InvitationUnavailable):
        invitations.find(old_token)
    assert invitations.find(new_token).pk == first.pk


def test_a_member_email_cannot_be_invited(world: World) -> None:
    with pytest.raises(invitations.AlreadyMember):
        invitations.invite(world.acme, "BOB@example.test", "member", world.alice, BASE)
    assert not Invitation.objects.exists()


# -- Accepting -----------------------------------------------------------------


def test_accepting_creates_the_membership_with_the_role_once(
    world: World, sent: Callable[..., tuple[Invitation, str]]
) -> None:
    _, token = sent("erin@example.test", role=Membership.Role.ADMIN)
    erin = UserFactory(username="erin")
    membership = invitations.accept(token, erin)
    assert (membership.organization, membership.role) == (
        world.acme,
        Membership.Role.ADMIN,
    )
    erin.refresh_from_db()
    assert erin.is_staff  # an admin works in the Django admin
    invitation = Invitation.objects.get()
    assert invitation.status == Invitation.Status.ACCEPTED
    assert invitation.accepted_by == erin
    # A double submit by the same person: the same membership, nothing new.
    assert invitations.accept(token, erin) == membership
    assert Membership.objects.filter(user=erin).count() == 1
    # Anyone else: the link is used.
    with pytest.raises(invitations.InvitationUnavailable):
        invitations.accept(token, UserFactory(username="mallory"))
    with pytest.raises(invitations.InvitationUnavailable):
        invitations.find(token)
    assert not Membership.objects.filter(user__username="mallory").exists()


def test_a_member_invitation_leaves_the_user_without_staff(
    world: World, sent: Callable[..., tuple[Invitation, str]]
) -> None:
    _, token = sent("erin@example.test")
    erin = UserFactory(username="erin")
    invitations.accept(token, erin)
    erin.refresh_from_db()
    assert not erin.is_staff


def test_an_expired_invitation_is_refused(
    world: World, sent: Callable[..., tuple[Invitation, str]]
) -> None:
    invitation, token = sent("erin@example.test")
    Invitation.objects.filter(pk=invitation.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    with pytest.raises(invitations.InvitationUnavailable):
        invitations.accept(token, UserFactory(username="erin"))
    assert not Membership.objects.filter(user__username="erin").exists()
    assert Invitation.objects.get().status == Invitation.Status.EXPIRED


def test_a_revoked_invitation_is_refused(
    world: World, sent: Callable[..., tuple[Invitation, str]]
) -> None:
    invitation, token = sent("erin@example.test")
    assert invitations.revoke(invitation)
    assert not invitations.revoke(invitation)  # once
    with pytest.raises(invitations.InvitationUnavailable):
        invitations.accept(token, UserFactory(username="erin"))
    assert Invitation.objects.get().status == Invitation.Status.REVOKED
    assert not invitations.resend(invitation, BASE)


@pytest.mark.parametrize("fate", ["removed", "demoted", "deactivated"])
def test_an_invitation_dies_with_its_inviters_role(
    world: World,
    sent: Callable[..., tuple[Invitation, str]],
    fate: str,
    django_capture_on_commit_callbacks: Any,
) -> None:
    """Found in review: a removed admin invited an address of their own as
    admin beforehand, then accepted it and was admin again."""
    mal = UserFactory(username="mal")
    Membership.objects.create(
        user=mal, organization=world.acme, role=Membership.Role.ADMIN
    )
    with django_capture_on_commit_callbacks(execute=True):
        with_mal = invitations.invite(
            world.acme, "mal-alt@example.test", Membership.Role.ADMIN, mal, BASE
        )
    token = LINK.search(str(mail.outbox[-1].body))
    assert token and with_mal.is_pending
    if fate == "removed":
        Membership.objects.filter(user=mal).delete()
    elif fate == "demoted":
        Membership.objects.filter(user=mal).update(role=Membership.Role.MEMBER)
    else:
        User.objects.filter(pk=mal.pk).update(is_active=False)
    with pytest.raises(invitations.InvitationUnavailable):
        invitations.find(token.group(1))
    with pytest.raises(invitations.InvitationUnavailable):
        invitations.accept(token.group(1), mal)
    role = Membership.objects.filter(user=mal).values_list("role", flat=True).first()
    assert role != Membership.Role.ADMIN or fate == "deactivated"
    # Another admin's invitations are untouched.
    _alice_invitation, alices = sent("erin@example.test")
    assert invitations.accept(alices, UserFactory(username="erin")).role == "member"


@pytest.mark.parametrize("token", ["", "x", "A" * 43, "A" * 5000])
def test_unknown_tokens_are_refused(world: World, token: str) -> None:
    with pytest.raises(invitations.InvitationUnavailable):
        invitations.accept(token, world.bob)


def test_accepting_never_demotes_and_may_promote(
    world: World, sent: Callable[..., tuple[Invitation, str]]
) -> None:
    alice_m = Membership.objects.get(user=world.alice, organization=world.acme)
    world.charlie.email = "charlie@globex.test"
    world.charlie.save()
    # alice (acme's admin) holds a member invitation sent to another address.
    _, token = sent("alice-other@example.test")
    assert invitations.accept(token, world.alice) == alice_m
    alice_m.refresh_from_db()
    assert alice_m.role == Membership.Role.ADMIN
    _, token = sent("bob-other@example.test", role=Membership.Role.ADMIN)
    bob_m = invitations.accept(token, world.bob)
    assert bob_m.role == Membership.Role.ADMIN


def test_resending_sends_a_new_link_and_kills_the_old_one(
    world: World,
    sent: Callable[..., tuple[Invitation, str]],
    django_capture_on_commit_callbacks: Any,
) -> None:
    invitation, old = sent("erin@example.test")
    Invitation.objects.filter(pk=invitation.pk).update(
        expires_at=timezone.now() - timedelta(days=1)
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert invitations.resend(invitation, BASE)
    match = LINK.search(str(mail.outbox[-1].body))
    assert match and match.group(1) != old
    assert invitations.find(match.group(1)).is_pending
    with pytest.raises(invitations.InvitationUnavailable):
        invitations.find(old)


# -- The admin -----------------------------------------------------------------


def test_an_org_admin_invites_through_the_admin(
    world: World, django_capture_on_commit_callbacks: Any
) -> None:
    client = login(world.alice)
    form = client.get(f"{INVITATIONS_URL}add/").context["adminform"].form
    assert list(form.fields) == ["organization", "email", "role"]
    assert list(form.fields["organization"].queryset) == [world.acme]
    assert form.initial["organization"] == str(world.acme.pk)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"{INVITATIONS_URL}add/",
            {
                "organization": world.acme.pk,
                "email": "erin@example.test",
                "role": "member",
            },
        )
    assert response.status_code == 302
    invitation = Invitation.objects.get()
    assert (invitation.organization, invitation.invited_by) == (world.acme, world.alice)
    assert len(mail.outbox) == 1
    token = LINK.search(str(mail.outbox[0].body)).group(1)  # type: ignore[union-attr]  # asserted by the test's failure
    for page in [
        client.get(INVITATIONS_URL),
        client.get(f"{INVITATIONS_URL}{invitation.pk}/change/"),
    ]:
        body = page.content.decode()
        assert page.status_code == 200
        assert "erin@example.test" in body and "Pending" in body
        assert token not in body and invitation.token_hash not in body


def test_the_admin_refuses_bad_input_and_members(world: World) -> None:
    client = login(world.alice)
    for data, field in [
        (
            {"organization": world.acme.pk, "email": "not-an-email", "role": "member"},
            "email",
        ),
        (
            {
                "organization": world.acme.pk,
                "email": "bob@example.test",
                "role": "member",
            },
            "email",
        ),
        (
            {"organization": world.acme.pk, "email": "x@example.test", "role": "owner"},
            "role",
        ),
        (
            {
                "organization": world.globex.pk,
                "email": "x@example.test",
                "role": "member",
            },
            "organization",
        ),
    ]:
        response = client.post(f"{INVITATIONS_URL}add/", data)
        assert response.status_code == 200
        assert field in response.context["adminform"].form.errors
        assert "Globex" not in response.content.decode()
    assert not Invitation.objects.exists()
    assert mail.outbox == []


def test_another_org_admin_cannot_see_revoke_or_resend_an_invitation(
    world: World, sent: Callable[..., tuple[Invitation, str]]
) -> None:
    invitation, token = sent("erin@example.test")
    charlie = login(world.charlie)
    listing = charlie.get(INVITATIONS_URL)
    assert list(listing.context["cl"].result_list) == []
    assert "erin@example.test" not in listing.content.decode()
    for url in [
        f"{INVITATIONS_URL}{invitation.pk}/change/",
        f"{INVITATIONS_URL}{invitation.pk}/history/",
    ]:
        assert charlie.get(url).status_code == 404
    assert charlie.post(f"{INVITATIONS_URL}{invitation.pk}/delete/").status_code in (
        403,
        404,
    )
    sent_before = len(mail.outbox)
    for action in ["revoke_invitations", "resend_invitations"]:
        charlie.post(
            INVITATIONS_URL, {"action": action, "_selected_action": [invitation.pk]}
        )
    assert len(mail.outbox) == sent_before
    assert invitations.find(token).pk == invitation.pk  # still pending, same link


def test_an_org_admin_revokes_and_resends(
    world: World,
    sent: Callable[..., tuple[Invitation, str]],
    django_capture_on_commit_callbacks: Any,
) -> None:
    erin, _ = sent("erin@example.test")
    frank, frank_token = sent("frank@example.test")
    client = login(world.alice)
    client.post(
        INVITATIONS_URL, {"action": "revoke_invitations", "_selected_action": [erin.pk]}
    )
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            INVITATIONS_URL,
            {"action": "resend_invitations", "_selected_action": [erin.pk, frank.pk]},
        )
    erin.refresh_from_db()
    assert erin.status == Invitation.Status.REVOKED
    assert [m.to for m in mail.outbox[2:]] == [["frank@example.test"]]
    with pytest.raises(invitations.InvitationUnavailable):
        invitations.find(frank_token)  # replaced by the resent link
    pending = client.get(INVITATIONS_URL, {"status": "pending"})
    assert [i.email for i in pending.context["cl"].result_list] == [
        "frank@example.test"
    ]
    revoked = client.get(INVITATIONS_URL, {"status": "revoked"})
    assert [i.email for i in revoked.context["cl"].result_list] == ["erin@example.test"]


def test_only_superusers_delete_invitations_and_nobody_edits_them(
    world: World, sent: Callable[..., tuple[Invitation, str]]
) -> None:
    invitation, _ = sent("erin@example.test")
    client = login(world.alice)
    assert (
        client.post(
            f"{INVITATIONS_URL}{invitation.pk}/delete/", {"post": "yes"}
        ).status_code
        == 403
    )
    response = client.post(
        f"{INVITATIONS_URL}{invitation.pk}/change/",
        {"organization": world.acme.pk, "email": "evil@example.test", "role": "admin"},
    )
    assert response.status_code == 403
    invitation.refresh_from_db()
    assert (invitation.email, invitation.role) == ("erin@example.test", "member")
    root = UserFactory(username="root", is_staff=True, is_superuser=True)
    response = login(root).post(
        f"{INVITATIONS_URL}{invitation.pk}/delete/", {"post": "yes"}
    )
    assert response.status_code == 302
    assert not Invitation.objects.exists()


def test_a_superuser_invites_into_any_organization(
    world: World, django_capture_on_commit_callbacks: Any
) -> None:
    root = UserFactory(username="root", is_staff=True, is_superuser=True)
    initech = OrganizationFactory(slug="initech", name="Initech")
    with django_capture_on_commit_callbacks(execute=True):
        response = login(root).post(
            f"{INVITATIONS_URL}add/",
            {"organization": initech.pk, "email": "erin@example.test", "role": "admin"},
        )
    assert response.status_code == 302
    assert Invitation.objects.get().organization == initech
    assert mail.outbox[0].to == ["erin@example.test"]
