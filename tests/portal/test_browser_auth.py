"""Accounts and keys in Chromium against the production-like server.

A member signs in, changes their password, signs out, resets it by the mailed
link and signs in with the new one; a run of wrong passwords meets the
lockout page; a key is created, its secret copied, and a reload forgets it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import pytest

from accounts.models import Membership, Organization
from gateway.models import ApiKey
from models_catalog.models import Grant
from tests.factories import (
    AIModelFactory,
    MembershipFactory,
    OrganizationFactory,
    ProviderFactory,
    UserFactory,
)
from tests.portal.browser import PHONE, Visit, can_sign_in

pytestmark = pytest.mark.django_db(transaction=True)

CHANGED = "a changed passphrase for the browser"
RESET = "a reset passphrase for the browser"


def member(username: str = "bob") -> Organization:
    acme = OrganizationFactory(slug="acme", name="Acme Corp")
    user = can_sign_in(UserFactory(username=username))
    MembershipFactory(user=user, organization=acme, role=Membership.Role.MEMBER)
    return acme


def test_change_password_sign_out_reset_by_mail_and_sign_in_again(
    visit: Callable[..., Visit],
) -> None:
    member()
    tab = visit("auth-password")
    tab.sign_in("bob")
    assert tab.page.url.rstrip("/") == tab.server.url  # home

    tab.page.click("header >> text=Password")
    tab.page.wait_for_load_state()
    assert tab.page.url.endswith("/accounts/password/")
    tab.check("change-form")
    tab.page.fill("#id_old_password", "browser correct horse battery staple")
    tab.page.fill("#id_new_password1", CHANGED)
    tab.page.fill("#id_new_password2", CHANGED)
    tab.page.click("main button[type=submit]")
    tab.page.wait_for_load_state()
    assert "Password changed" in tab.page.inner_text("h1")
    tab.check("change-done")

    tab.page.click("#sign-out button")
    tab.page.wait_for_load_state()
    assert "/accounts/login/" in tab.page.url
    tab.page.click("text=Forgot password?")
    tab.page.wait_for_load_state()
    tab.check("reset-form")
    tab.page.fill("#id_email", "bob@example.test")
    tab.page.click("main button[type=submit]")
    tab.page.wait_for_load_state()
    assert "Check your email" in tab.page.inner_text("h1")
    tab.check("reset-sent")

    links = tab.server.links_in_mail_to("bob@example.test")
    assert len(links) == 1 and links[0].startswith(tab.server.url)
    tab.page.goto(links[0])
    tab.page.wait_for_load_state()
    assert "set-password" in tab.page.url  # the token left the address bar
    tab.check("reset-choose")
    tab.page.fill("#id_new_password1", RESET)
    tab.page.fill("#id_new_password2", RESET)
    tab.page.click("main button[type=submit]")
    tab.page.wait_for_load_state()
    tab.check("reset-complete")
    tab.page.click("main >> text=Sign in")
    tab.page.wait_for_load_state()

    tab.sign_in("bob", CHANGED)  # the changed password no longer works
    assert "/accounts/login/" in tab.page.url
    tab.sign_in("bob", RESET)
    assert tab.page.url.rstrip("/") == tab.server.url
    assert tab.page.locator("header .username").inner_text() == "bob"


def test_repeated_wrong_passwords_meet_the_lockout_page(
    visit: Callable[..., Visit],
) -> None:
    member()
    tab = visit("auth-lockout")
    # Slowed after 2 failures, locked after 5: an attempt refused as too soon
    # is not counted, so wait as the page says and try again.
    for _ in range(10):
        tab.sign_in("bob", "wrong")
        if tab.page.locator("h1 >> text=Sign-in paused").count():
            break
        wait = re.search(r"Try again in (\d+) seconds?", tab.page.inner_text("main"))
        if wait:
            time.sleep(int(wait[1]))
    assert "Too many failed sign-ins. Try again in 15 minutes." in tab.page.inner_text(
        "main"
    )
    tab.check("lockout", allow_status=(429,))
    phone = visit("auth-lockout-phone", viewport=PHONE)
    phone.sign_in("bob", "wrong")
    assert "Too many failed sign-ins" in phone.page.inner_text("main")
    phone.check("lockout", allow_status=(429,))


def test_a_member_creates_a_key_copies_it_and_a_reload_forgets_it(
    visit: Callable[..., Visit],
) -> None:
    acme = member()
    model = AIModelFactory(
        provider=ProviderFactory(organization=acme, name="acme-openai"),
        model_id="gpt-4o-mini",
    )
    Grant.objects.create(model=model, organization=acme)

    tab = visit("auth-keys")
    tab.page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    tab.sign_in("bob")
    tab.goto("/keys/")
    assert "Creating a key in Acme Corp" in tab.page.inner_text("main")
    tab.check("keys-empty")
    tab.page.fill("#id_name", "laptop")
    tab.page.check("text=gpt-4o-mini")
    tab.page.click("text=Create key")
    tab.page.wait_for_load_state()

    secret = tab.page.input_value("#new-key-secret")
    assert secret.startswith(ApiKey.objects.get(name="laptop").prefix)
    assert ApiKey.objects.get(name="laptop").allowed_models == ["gpt-4o-mini"]
    for slug in ("curl", "python", "node"):
        code = tab.page.inner_text(f"#snippet-{slug}")
        assert secret in code and "gpt-4o-mini" in code
        assert f"{tab.server.url}/v1" in code
    copy = tab.page.locator("button[data-copy='#new-key-secret']")
    copy.click()
    tab.page.wait_for_function(
        "() => document.querySelector(\"[data-copy='#new-key-secret']\")"
        ".textContent === 'Copied'"
    )
    assert tab.page.evaluate("navigator.clipboard.readText()") == secret
    tab.check("key-created")

    tab.page.reload()
    tab.page.wait_for_load_state()
    assert tab.page.locator("#new-key-secret").count() == 0
    assert secret not in tab.page.content()
    assert ApiKey.objects.filter(name="laptop").count() == 1  # not posted twice
    tab.check("keys-list")

    phone = visit("auth-keys-phone", viewport=PHONE)
    phone.sign_in("bob")
    phone.goto("/keys/")
    phone.page.fill("#id_name", "phone")
    phone.page.click("text=Create key")
    phone.page.wait_for_load_state()
    assert phone.page.locator("#new-key-secret").count() == 1
    phone.check("key-created")
