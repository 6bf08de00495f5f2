"""Members and invitations managed through the API: a role changed, a member
removed, an invitation resent; the last admin of an organization can be neither
demoted nor removed (the admin's rule, ``accounts.last_admin``)."""

from __future__ import annotations

from accounts.models import Invitation, Membership
from tests.factories import MembershipFactory, UserFactory

MEMBERS = "organizations/acme/members/"
INVITATIONS = "organizations/acme/invitations/"


def role_of(world, username):
    return Membership.objects.get(organization=world.acme, user__username=username).role


def test_an_admin_changes_a_role_and_removes_a_member(world, api):
    shown = api.alice.get(MEMBERS + "bob/")
    assert shown.status_code == 200
    assert shown.json()["role"] == "member"
    promoted = api.alice.patch(MEMBERS + "bob/", {"role": "admin"})
    assert promoted.status_code == 200, promoted.json()
    assert promoted.json()["username"] == "bob"
    assert role_of(world, "bob") == "admin"
    assert api.alice.patch(MEMBERS + "bob/", {"role": "boss"}).status_code == 400
    # Username and email are not changed through a membership.
    api.alice.patch(MEMBERS + "bob/", {"username": "mallory", "email": "m@x.test"})
    assert Membership.objects.filter(user__username="bob").exists()
    assert api.alice.delete(MEMBERS + "bob/").status_code == 204
    assert not Membership.objects.filter(
        organization=world.acme, user=world.bob
    ).exists()
    assert api.alice.get(MEMBERS + "bob/").status_code == 404


def test_the_last_admin_is_neither_demoted_nor_removed(world, api):
    demoted = api.alice.patch(MEMBERS + "alice/", {"role": "member"})
    assert demoted.status_code == 409
    assert "without an admin" in demoted.json()["detail"]
    assert api.alice.delete(MEMBERS + "alice/").status_code == 409
    assert role_of(world, "alice") == "admin"
    # With a second admin, alice may step down (and her token stops working).
    MembershipFactory(user=UserFactory(), organization=world.acme, role="admin")
    assert api.alice.patch(MEMBERS + "alice/", {"role": "member"}).status_code == 200
    assert role_of(world, "alice") == "member"
    assert api.alice.get(MEMBERS).status_code == 401


def test_a_read_only_token_changes_no_member(world, api):
    assert api.reader.get(MEMBERS + "bob/").status_code == 200
    assert api.reader.patch(MEMBERS + "bob/", {"role": "admin"}).status_code == 403
    assert api.reader.delete(MEMBERS + "bob/").status_code == 403
    assert role_of(world, "bob") == "member"


def test_an_invitation_is_resent_with_a_fresh_link(
    world, api, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        invited = api.alice.post(INVITATIONS, {"email": "eve@example.test"}).json()
    url = f"{INVITATIONS}{invited['code']}/"
    first = Invitation.objects.get(email="eve@example.test").token_hash
    with django_capture_on_commit_callbacks(execute=True):
        resent = api.alice.post(url + "resend/")
    assert resent.status_code == 200
    assert resent.json()["status"] == "pending"
    assert len(mailoutbox) == 2
    assert mailoutbox[0].body != mailoutbox[1].body  # a new link
    assert Invitation.objects.get(email="eve@example.test").token_hash != first
    assert api.reader.post(url + "resend/").status_code == 403
    assert api.alice.delete(url).status_code == 204
    closed = api.alice.post(url + "resend/")
    assert closed.status_code == 409
    assert len(mailoutbox) == 2
