"""An org admin registers a provider in a real browser; the secret never comes back."""

from __future__ import annotations

import pytest

from accounts.models import Membership, Organization
from providers.models import Provider
from tests.conftest import PASSWORD
from tests.factories import MembershipFactory, ProviderFactory, UserFactory

playwright_sync = pytest.importorskip("playwright.sync_api")

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
]
SECRET = "sk-browser-SECRET-123"


@pytest.mark.django_db(transaction=True)
def test_an_org_admin_adds_a_provider_and_never_sees_the_key_again(
    live_server: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    acme = Organization.objects.create(slug="acme", name="Acme Corp")
    globex = Organization.objects.create(slug="globex", name="Globex")
    alice = UserFactory(username="alice", is_staff=True)
    MembershipFactory(user=alice, organization=acme, role=Membership.Role.ADMIN)
    ProviderFactory(organization=globex, name="globex-secret-provider")
    # The address bin/run prints: plain HTTP, where Chromium still keeps the
    # Secure session and CSRF cookies (127.0.0.1 counts as a secure context).
    base = str(live_server).replace("localhost", "127.0.0.1")
    # Playwright's sync API runs an event loop in this thread; the ORM calls
    # below are still plain synchronous calls.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

    with playwright_sync.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1200})
            # Anything the Content-Security-Policy blocks shows up here.
            console: list[str] = []
            page.on("console", lambda message: console.append(message.text))
            page.goto(f"{base}/admin/login/")
            page.fill("#id_username", "alice")
            page.fill("#id_password", PASSWORD)
            page.click("input[type=submit]")
            page.wait_for_selector("#content-main")

            page.goto(f"{base}/admin/providers/provider/add/")
            page.select_option("#id_organization", str(acme.pk))
            page.fill("#id_name", "browser-openai")
            page.select_option("#id_provider_type", "openai")
            page.select_option("#id_auth_method", "bearer")
            page.fill("#id_api_key", SECRET)
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
            page.screenshot(path="/tmp/admin.png", full_page=True)

            page.goto(f"{base}/admin/providers/provider/")
            listing = page.content()
            assert "browser-openai" in listing
            assert "globex-secret-provider" not in listing
            assert SECRET not in listing
            page.screenshot(path="/tmp/admin-list.png", full_page=True)
            assert not [m for m in console if "Content Security Policy" in m]
        finally:
            browser.close()
