"""An org admin creates a management token in the admin, in Chromium: signed in
through the site's form, the secret is shown once and the list never shows it."""

from __future__ import annotations

import pytest

from accounts.models import Membership, Organization
from api.models import ManagementToken
from tests.factories import MembershipFactory, UserFactory
from tests.portal.browser import can_sign_in
from tests.portal.conftest import site_server, visit  # noqa: F401  # the fixtures

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_org_admin_creates_a_token_and_sees_it_once(visit):  # noqa: F811
    acme = Organization.objects.create(slug="acme", name="Acme Corp")
    alice = can_sign_in(UserFactory(username="alice", is_staff=True))
    MembershipFactory(user=alice, organization=acme, role=Membership.Role.ADMIN)

    tab = visit("token-admin")
    tab.sign_in("alice")
    page = tab.page
    tab.goto("/admin/api/managementtoken/add/")
    page.select_option("#id_organization", str(acme.pk))
    page.fill("#id_name", "terraform")
    page.select_option("#id_role", "admin")
    page.click("input[name=_save]")
    page.wait_for_selector("#management-token-secret")
    secret = page.input_value("#management-token-secret")
    tab.screenshot("created")
    token = ManagementToken.objects.get(name="terraform")
    assert secret.startswith("mgmt_") and token.prefix in secret
    assert token.secret_hash not in page.content()

    tab.goto("/admin/api/managementtoken/")
    listing = page.content()
    assert "terraform" in listing and secret not in listing
    tab.screenshot("list")
    assert tab.failed == []
    assert tab.console == []
