"""A member signs in through the site's login form and lands on their home."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from accounts.models import Membership
from tests.factories import MembershipFactory, OrganizationFactory, UserFactory
from tests.portal.browser import PHONE, Visit, can_sign_in

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_member_signs_in_and_out_on_the_site(
    visit: Callable[..., Visit],
) -> None:
    acme = OrganizationFactory(slug="acme", name="Acme Corp")
    bob = can_sign_in(UserFactory(username="bob"))
    MembershipFactory(user=bob, organization=acme, role=Membership.Role.MEMBER)

    tab = visit("member-signin")
    tab.goto("/")
    assert "/accounts/login/" in tab.page.url
    tab.check("login")
    tab.sign_in("bob")
    assert tab.page.url.rstrip("/") == tab.server.url
    assert tab.page.locator("header .username").inner_text() == "bob"
    assert tab.page.locator("header nav >> text=Admin").count() == 0
    tab.check("home")
    tab.goto("/models/")
    assert tab.page.locator("h1").count() == 1
    tab.check("models")
    tab.page.click("#sign-out button")
    tab.page.wait_for_load_state()
    assert "/accounts/login/" in tab.page.url

    phone = visit("member-signin-phone", viewport=PHONE)
    phone.sign_in("bob")
    phone.check("home")


def test_an_operator_without_organization_is_shown_how_to_start(
    visit: Callable[..., Visit],
) -> None:
    can_sign_in(UserFactory(username="root", is_staff=True, is_superuser=True))
    tab = visit("operator-signin")
    tab.sign_in("root")
    assert "Create an organization" in tab.page.locator("main").inner_text()
    tab.check("home")
