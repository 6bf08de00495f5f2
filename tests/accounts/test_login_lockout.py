"""Failed sign-ins are slowed, then locked, on the site and the admin alike.

The rules (accounts/signin_throttle.py): one username from one address (5),
one address for any usernames (20), one username from any addresses (50);
from half a limit on, each attempt waits a doubling pause. Answers never tell
whether a username exists.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from axes.models import AccessAttempt
from django.core import mail
from django.db.models import F
from django.test import Client

from tests.conftest import PASSWORD, World

SITE, ADMIN = "/accounts/login/", "/admin/login/"
BOTH = pytest.mark.parametrize("login", [SITE, ADMIN])


def sign_in(login: str, username: str, password: str, address: str) -> Any:
    client = Client()
    response = client.post(
        login,
        {"username": username, "password": password, "next": "/"},
        REMOTE_ADDR=address,
    )
    response.signed_in = "_auth_user_id" in client.session
    return response


def normalized(response: Any, username: str) -> str:
    text = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", response.text)
    return text.replace(username, "USERNAME")


@pytest.fixture
def no_slowdown(settings: Any) -> None:
    """The lock rules alone (the slowdown has its own test)."""
    settings.LOGIN_SLOWDOWN_SECONDS = 0


def test_the_documented_defaults(settings: Any) -> None:
    assert settings.AXES_FAILURE_LIMIT == 5
    assert settings.LOGIN_ADDRESS_FAILURE_LIMIT == 20
    assert settings.LOGIN_USERNAME_FAILURE_LIMIT == 50
    assert settings.LOGIN_SLOWDOWN_SECONDS == 1
    assert timedelta(minutes=15) == settings.AXES_COOLOFF_TIME


@BOTH
def test_five_wrong_passwords_lock_the_username_at_that_address(
    world: World, no_slowdown: None, login: str
) -> None:
    for _ in range(4):
        response = sign_in(login, "alice", "wrong", "198.51.100.1")
        assert response.status_code == 200
    locked = sign_in(login, "alice", "wrong", "198.51.100.1")
    assert locked.status_code == 429
    assert "Too many failed sign-ins. Try again in 15 minutes." in locked.text
    assert int(locked["Retry-After"]) > 14 * 60
    # the right password no longer helps from there
    again = sign_in(login, "alice", PASSWORD, "198.51.100.1")
    assert again.status_code == 429 and not again.signed_in
    # the real user elsewhere, and other users there, still sign in
    assert sign_in(login, "alice", PASSWORD, "192.0.2.7").signed_in
    assert sign_in(login, "charlie", PASSWORD, "198.51.100.1").signed_in


def test_the_lock_holds_across_site_and_admin(world: World, no_slowdown: None) -> None:
    for login in (SITE, ADMIN, SITE, ADMIN, SITE):
        sign_in(login, "alice", "wrong", "198.51.100.1")
    assert sign_in(ADMIN, "alice", PASSWORD, "198.51.100.1").status_code == 429
    assert sign_in(SITE, "alice", PASSWORD, "198.51.100.1").status_code == 429


@BOTH
def test_an_address_guessing_many_usernames_is_locked(
    world: World, no_slowdown: None, login: str
) -> None:
    for n in range(19):
        assert sign_in(login, f"guess{n}", "wrong", "203.0.113.9").status_code == 200
    assert sign_in(login, "guess19", "wrong", "203.0.113.9").status_code == 429
    # every username from there, even one never tried, with its right password
    bob = sign_in(login, "alice", PASSWORD, "203.0.113.9")
    assert bob.status_code == 429 and not bob.signed_in
    assert sign_in(login, "alice", PASSWORD, "192.0.2.7").signed_in


@BOTH
def test_a_username_guessed_from_many_addresses_is_locked(
    world: World, no_slowdown: None, login: str
) -> None:
    for n in range(49):
        assert sign_in(login, "alice", "wrong", f"10.0.{n}.1").status_code == 200
    assert sign_in(login, "alice", "wrong", "10.0.99.1").status_code == 429
    # locked everywhere, even from an address that never failed
    fresh = sign_in(login, "alice", PASSWORD, "192.0.2.200")
    assert fresh.status_code == 429 and not fresh.signed_in
    assert sign_in(login, "charlie", PASSWORD, "192.0.2.200").signed_in


def test_a_password_reset_lifts_the_username_lock(
    world: World, no_slowdown: None
) -> None:
    for n in range(50):
        sign_in(SITE, "alice", "wrong", f"10.1.{n}.1")
    assert sign_in(SITE, "alice", PASSWORD, "192.0.2.8").status_code == 429
    client = Client()
    client.post("/accounts/password/reset/", {"email": "alice@example.test"})
    link = re.search(r"http://testserver(\S+)", mail.outbox[0].body)
    assert link
    form = client.get(link[1])["Location"]
    new = "a brand new passphrase for alice"
    client.post(form, {"new_password1": new, "new_password2": new})
    assert sign_in(SITE, "alice", new, "192.0.2.8").signed_in


def test_signing_into_ones_own_account_does_not_clear_the_address(
    world: World, no_slowdown: None
) -> None:
    """axes' default reset on success forgets the address's failures too, so an
    attacker with an account could guess forever between own sign-ins."""
    for n in range(10):
        sign_in(SITE, f"guess{n}", "wrong", "203.0.113.50")
    assert sign_in(SITE, "bob", PASSWORD, "203.0.113.50").signed_in
    for n in range(10, 19):
        assert sign_in(SITE, f"guess{n}", "wrong", "203.0.113.50").status_code == 200
    assert sign_in(SITE, "guess19", "wrong", "203.0.113.50").status_code == 429


def test_a_successful_sign_in_resets_the_count_of_that_username(
    world: World, no_slowdown: None
) -> None:
    for _ in range(4):
        sign_in(SITE, "alice", "wrong", "198.51.100.1")
    assert sign_in(SITE, "alice", PASSWORD, "198.51.100.1").signed_in
    for _ in range(4):
        assert sign_in(SITE, "alice", "wrong", "198.51.100.1").status_code == 200


@BOTH
def test_failures_are_slowed_before_the_lock(world: World, login: str) -> None:
    """From half the limit (2 of 5) on, the next attempt waits 1 s, then 2 s...;
    an attempt made too soon is refused unchecked and not counted."""
    for _ in range(2):
        assert sign_in(login, "alice", "wrong", "198.51.100.2").status_code == 200
    early = sign_in(login, "alice", PASSWORD, "198.51.100.2")
    assert early.status_code == 429 and not early.signed_in
    assert "Try again in 1 second." in early.text
    assert early["Retry-After"] == "1"
    assert AccessAttempt.objects.get().failures_since_start == 2  # not counted

    def time_passes(seconds: float) -> None:
        AccessAttempt.objects.update(
            attempt_time=F("attempt_time") - timedelta(seconds=seconds)
        )

    time_passes(1.1)
    assert sign_in(login, "alice", "wrong", "198.51.100.2").status_code == 200
    assert (
        "Try again in 2 seconds."
        in sign_in(login, "alice", "wrong", "198.51.100.2").text
    )
    time_passes(2.1)
    assert sign_in(login, "alice", PASSWORD, "198.51.100.2").signed_in


@BOTH
def test_a_wrong_password_and_an_unknown_user_get_the_same_answer(
    world: World, no_slowdown: None, login: str
) -> None:
    existing = sign_in(login, "alice", "wrong", "198.51.100.3")
    unknown = sign_in(login, "nobody1", "wrong", "198.51.100.4")
    assert existing.status_code == unknown.status_code == 200
    assert normalized(existing, "alice") == normalized(unknown, "nobody1")


@BOTH
def test_the_lockout_answer_is_the_same_for_existing_and_unknown_users(
    world: World, no_slowdown: None, login: str
) -> None:
    for _ in range(5):
        existing = sign_in(login, "alice", "wrong", "198.51.100.5")
        unknown = sign_in(login, "nobody1", "wrong", "198.51.100.6")
    assert existing.status_code == unknown.status_code == 429
    assert normalized(existing, "alice") == normalized(unknown, "nobody1")
    assert existing["Retry-After"] == unknown["Retry-After"]
    assert "alice" not in existing.text


def test_the_lockout_page_is_a_site_page(world: World, no_slowdown: None) -> None:
    for _ in range(5):
        locked = sign_in(ADMIN, "alice", "wrong", "198.51.100.7")
    assert locked.status_code == 429
    assert "portal/site.css" in locked.text
    assert "admin/css" not in locked.text
    assert 'href="/accounts/password/reset/"' in locked.text


def test_a_failed_sign_in_stores_no_invitation_link(
    world: World, no_slowdown: None
) -> None:
    """The invitation page sends signed-out invitees to sign in with the link
    in ``next``; axes keeps failed attempts' query strings (found in review)."""
    token = "TOKEN-of-an-invitation-link-0123456789abcdefghijk"
    Client(REMOTE_ADDR="10.0.0.7").post(
        f"/accounts/login/?next=/invitations/{token}/",
        {"username": "bob", "password": "wrong", "next": f"/invitations/{token}/"},
    )
    attempts = list(AccessAttempt.objects.values_list("get_data", "post_data"))
    assert attempts and token not in str(attempts)
