"""An org admin invites two people from the admin; one creates an account, the
other joins with the account they have, both through the emailed link."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from accounts.models import Membership, User
from tests.factories import MembershipFactory, OrganizationFactory, UserFactory
from tests.portal.browser import PHONE, SCREENSHOTS, Visit, can_sign_in

pytestmark = pytest.mark.django_db(transaction=True)
NEW_PASSWORD = "a long and unusual passphrase 42"


def invite_from_the_admin(admin_tab: Visit, email: str, role: str) -> str:
    """Fill the Invitation admin's add form; returns the emailed link."""
    page = admin_tab.page
    admin_tab.goto("/admin/accounts/invitation/add/")
    page.fill("#id_email", email)
    page.select_option("#id_role", role)
    page.screenshot(path=str(SCREENSHOTS / f"{admin_tab.name}-admin-add.png"))
    page.click("input[name=_save]")
    page.wait_for_load_state()
    assert "/admin/accounts/invitation/" in page.url
    page.screenshot(
        path=str(SCREENSHOTS / f"{admin_tab.name}-admin-list.png"), full_page=True
    )
    assert email in page.locator("#result_list").inner_text()
    links = admin_tab.server.links_in_mail_to(email)
    assert len(links) == 1, links
    return links[0]


def test_invitations_are_accepted_with_a_new_or_an_existing_account(
    visit: Callable[..., Visit],
) -> None:
    acme = OrganizationFactory(slug="acme", name="Acme Corp")
    alice = can_sign_in(UserFactory(username="alice"))
    MembershipFactory(user=alice, organization=acme, role=Membership.Role.ADMIN)
    dave = can_sign_in(UserFactory(username="dave", email="dave@example.test"))

    admin_tab = visit("invite-admin")
    admin_tab.sign_in("alice")
    link = invite_from_the_admin(admin_tab, "erin@example.test", "member")
    assert link.startswith(admin_tab.server.url + "/invitations/")

    # A new person: creates an account from the link, lands home in Acme.
    erin_tab = visit("invite-new-account")
    erin_tab.page.goto(link)
    assert "Join Acme Corp" in erin_tab.page.locator("h1").inner_text()
    assert erin_tab.page.input_value("#id_email") == "erin@example.test"
    erin_tab.check("invitation")
    erin_tab.page.fill("#id_username", "erin")
    erin_tab.page.fill("#id_password1", NEW_PASSWORD)
    erin_tab.page.fill("#id_password2", NEW_PASSWORD)
    erin_tab.page.click("#create-account button[type=submit]")
    erin_tab.page.wait_for_load_state()
    assert erin_tab.page.url.rstrip("/") == erin_tab.server.url
    assert erin_tab.page.locator("header .username").inner_text() == "erin"
    assert "You joined Acme Corp" in erin_tab.page.locator(".messages").inner_text()
    erin_tab.check("home")
    erin = User.objects.get(username="erin")
    assert Membership.objects.get(user=erin).organization == acme
    assert not erin.is_staff
    # The link was single use: anyone else opening it gets the one dead-link page
    # (erin herself is sent home).
    used_tab = visit("invite-used-link")
    used_tab.page.goto(link)
    assert "cannot be used" in used_tab.page.locator("h1").inner_text()
    used_tab.check("page", allow_status=(410,))

    # A person with an account: signs in from the link, then joins.
    link = invite_from_the_admin(admin_tab, "dave@example.test", "member")
    dave_tab = visit("invite-existing-account", viewport=PHONE)
    dave_tab.page.goto(link)
    dave_tab.check("invitation")
    dave_tab.page.click("#sign-in-to-accept")
    dave_tab.page.wait_for_load_state()
    assert "/accounts/login/" in dave_tab.page.url
    dave_tab.page.fill("#id_username", "dave")
    dave_tab.page.fill("#id_password", "browser correct horse battery staple")
    dave_tab.page.click("button[type=submit]")
    dave_tab.page.wait_for_load_state()
    assert "/invitations/" in dave_tab.page.url
    dave_tab.check("invitation-signed-in")
    dave_tab.page.click("#join")
    dave_tab.page.wait_for_load_state()
    assert dave_tab.page.url.rstrip("/") == dave_tab.server.url
    dave_tab.check("home")
    assert Membership.objects.get(user=dave).organization == acme

    admin_tab.goto("/admin/accounts/invitation/")
    admin_tab.page.screenshot(
        path=str(SCREENSHOTS / "invite-admin-accepted.png"), full_page=True
    )
    assert admin_tab.page.locator("#result_list").inner_text().count("Accepted") == 2
