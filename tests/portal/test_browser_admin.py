"""An org admin registers a provider in a real browser; the secret never comes back.

Against the production-like server (hashed static files through WhiteNoise): the
admin is styled, and nothing the page loads fails or breaks the CSP.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from accounts.models import Membership, Organization
from providers.models import Provider
from tests.factories import MembershipFactory, ProviderFactory, UserFactory
from tests.portal.browser import Visit, can_sign_in

SECRET = "sk-browser-SECRET-123"

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_org_admin_adds_a_provider_and_never_sees_the_key_again(
    visit: Callable[..., Visit],
) -> None:
    acme = Organization.objects.create(slug="acme", name="Acme Corp")
    globex = Organization.objects.create(slug="globex", name="Globex")
    alice = can_sign_in(UserFactory(username="alice", is_staff=True))
    MembershipFactory(user=alice, organization=acme, role=Membership.Role.ADMIN)
    ProviderFactory(organization=globex, name="globex-secret-provider")

    tab = visit("admin-provider")
    tab.sign_in("alice")  # the site's form; staff then follow the Admin link
    tab.page.click("header nav >> text=Admin")
    tab.page.wait_for_selector("#content-main")
    # Styled: the admin's hashed stylesheet was served and applied.
    header = tab.page.locator("#header")
    assert header.evaluate("e => getComputedStyle(e).display") == "flex"
    tab.screenshot("index")

    page = tab.page
    tab.goto("/admin/providers/provider/add/")
    page.select_option("#id_organization", str(acme.pk))
    page.fill("#id_name", "browser-openai")
    page.select_option("#id_provider_type", "openai")
    page.select_option("#id_auth_method", "bearer")
    page.fill("#id_api_key", SECRET)
    # The default endpoint is OpenAI's own: no vendor call from a test
    # (verification before save has its own browser test).
    page.check("#id_save_without_verifying")
    page.click("input[name=_continue]")
    page.wait_for_selector(".messagelist .success")

    provider = Provider.objects.get(name="browser-openai")
    assert provider.get_credentials() == {"api_key": SECRET}
    assert provider.owner == alice
    assert "/change/" in page.url
    help_text = page.locator("#id_api_key_helptext").inner_text()
    assert "configured" in help_text
    assert page.input_value("#id_api_key") == ""
    assert SECRET not in page.content()
    tab.screenshot("provider")

    tab.goto("/admin/providers/provider/")
    listing = page.content()
    assert "browser-openai" in listing
    assert "globex-secret-provider" not in listing
    assert SECRET not in listing
    tab.screenshot("providers")
    # Nothing failed to load, nothing broke the Content-Security-Policy.
    assert tab.failed == []
    assert tab.console == []
