"""Sign-in, password change and password reset on the site (Django test client)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.core import mail
from django.test import Client
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from accounts.models import User
from tests.conftest import PASSWORD, World

NEW_PASSWORD = "a new and rather long passphrase"


def sign_in(client: Client, username: str, password: str, **extra: Any) -> Any:
    return client.post(
        "/accounts/login/", {"username": username, "password": password, **extra}
    )


def reset_link(text: str) -> str:
    found = re.findall(r"http://testserver(/accounts/password/reset/\S+)", text)
    assert len(found) == 1, text
    return found[0]


def test_a_member_lands_on_home_and_a_foreign_next_is_ignored(world: World) -> None:
    client = Client()
    assert sign_in(client, "bob", PASSWORD)["Location"] == "/"
    client.logout()
    response = sign_in(client, "bob", PASSWORD, next="/keys/")
    assert response["Location"] == "/keys/"
    client.logout()
    for foreign in ("https://evil.example/", "//evil.example/keys/"):
        response = sign_in(client, "bob", PASSWORD, next=foreign)
        assert response["Location"] == "/"
        client.logout()


def test_staff_sign_in_on_the_same_page_and_get_the_admin_link(world: World) -> None:
    member, staff = Client(), Client()
    sign_in(member, "bob", PASSWORD)
    sign_in(staff, "alice", PASSWORD)  # is_staff
    assert 'href="/admin/"' not in member.get("/").text
    assert 'href="/admin/"' in staff.get("/").text


def test_the_login_page_offers_the_reset(world: World) -> None:
    page = Client().get("/accounts/login/").text
    assert 'href="/accounts/password/reset/"' in page
    assert "Forgot password?" in page


def test_change_password_needs_the_old_one(world: World) -> None:
    client = Client()
    assert client.get("/accounts/password/")["Location"].startswith(
        "/accounts/login/?next=/accounts/password/"
    )
    sign_in(client, "bob", PASSWORD)
    response = client.post(
        "/accounts/password/",
        {
            "old_password": "not it",
            "new_password1": NEW_PASSWORD,
            "new_password2": NEW_PASSWORD,
        },
    )
    assert response.status_code == 200
    assert "Your old password was entered incorrectly" in response.text
    assert User.objects.get(username="bob").check_password(PASSWORD)


def test_change_password_keeps_the_session_and_takes_effect(world: World) -> None:
    client = Client()
    sign_in(client, "bob", PASSWORD)
    page = client.get("/accounts/password/")
    assert page.status_code == 200 and "Change password" in page.text
    assert "Acme Corp" in page.text  # the site layout, in the user's organization
    response = client.post(
        "/accounts/password/",
        {
            "old_password": PASSWORD,
            "new_password1": NEW_PASSWORD,
            "new_password2": NEW_PASSWORD,
        },
    )
    assert response["Location"] == "/accounts/password/done/"
    assert "Password changed" in client.get("/accounts/password/done/").text
    assert client.get("/").status_code == 200  # still signed in
    assert sign_in(Client(), "bob", PASSWORD).status_code == 200  # old refused
    assert sign_in(Client(), "bob", NEW_PASSWORD).status_code == 302


def test_reset_answers_the_same_for_known_and_unknown_addresses(world: World) -> None:
    client = Client()
    known = client.post("/accounts/password/reset/", {"email": "bob@example.test"})
    unknown = client.post("/accounts/password/reset/", {"email": "nobody@example.test"})
    assert (known.status_code, known["Location"]) == (
        unknown.status_code,
        unknown["Location"],
    )
    assert known["Location"] == "/accounts/password/reset/sent/"
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["bob@example.test"]
    assert "If an account uses that address" in client.get(known["Location"]).text


def test_reset_by_the_mailed_link_then_sign_in(world: World) -> None:
    client = Client()
    client.post(
        "/accounts/password/reset/",
        {"email": "bob@example.test"},
        HTTP_HOST="testserver",
    )
    message = mail.outbox[0]
    assert message.subject == "Reset your Modelgate password"
    assert message.alternatives == []  # plain text only
    assert "expires in 1 hour" in message.body
    link = reset_link(message.body)
    # The token leaves the address bar: Django swaps it for a session marker.
    landing = client.get(link)
    assert landing.status_code == 302
    assert "set-password" in landing["Location"]
    form = client.get(landing["Location"])
    assert "Choose a new password" in form.text
    mismatch = client.post(
        landing["Location"],
        {"new_password1": NEW_PASSWORD, "new_password2": "something else"},
    )
    assert mismatch.status_code == 200
    assert User.objects.get(username="bob").check_password(PASSWORD)
    done = client.post(
        landing["Location"],
        {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert done["Location"] == "/accounts/password/reset/complete/"
    assert "Password set" in client.get(done["Location"]).text
    assert sign_in(Client(), "bob", NEW_PASSWORD).status_code == 302
    # single use
    again = Client().get(link, follow=True)
    assert "This link no longer works" in again.text


def test_a_reset_link_expires_after_the_timeout(world: World, settings: Any) -> None:
    assert settings.PASSWORD_RESET_TIMEOUT == 3600  # the documented default
    bob = User.objects.get(username="bob")

    class TwoHoursAgo(PasswordResetTokenGenerator):
        def _now(self) -> datetime:
            return datetime.now() - timedelta(hours=2)

    token = TwoHoursAgo().make_token(bob)
    uid = urlsafe_base64_encode(force_bytes(bob.pk))
    page = Client().get(f"/accounts/password/reset/{uid}/{token}/", follow=True)
    assert "This link no longer works" in page.text
    fresh = PasswordResetTokenGenerator().make_token(bob)
    landing = Client().get(f"/accounts/password/reset/{uid}/{fresh}/")
    assert landing.status_code == 302  # the same link made now works


def test_the_reset_mail_uses_the_request_host(world: World, settings: Any) -> None:
    settings.ALLOWED_HOSTS = ["gate.example.test"]
    Client().post(
        "/accounts/password/reset/",
        {"email": "bob@example.test"},
        HTTP_HOST="gate.example.test",
    )
    assert "http://gate.example.test/accounts/password/reset/" in mail.outbox[0].body
    # a forged Host is refused before any mail goes out
    forged = Client().post(
        "/accounts/password/reset/",
        {"email": "bob@example.test"},
        HTTP_HOST="evil.example",
    )
    assert forged.status_code == 400
    assert len(mail.outbox) == 1


@pytest.mark.parametrize("path", ["/accounts/password/", "/accounts/password/done/"])
def test_password_pages_need_a_signed_in_user(db: None, path: str) -> None:
    assert Client().get(path).status_code == 302
