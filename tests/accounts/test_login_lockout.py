"""Sign-in guesses are limited per username and address (django-axes)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from tests.conftest import PASSWORD

LOGIN = "/admin/login/"


def sign_in(client: Client, username: str, password: str, address: str) -> Any:
    return client.post(
        LOGIN,
        {"username": username, "password": password, "next": "/admin/"},
        REMOTE_ADDR=address,
    )


@pytest.fixture
def limit(settings: Any) -> int:
    assert settings.AXES_FAILURE_LIMIT == 5  # the documented default
    return 5


def test_five_wrong_passwords_lock_the_username_at_that_address(world, limit):
    client = Client()
    for _ in range(limit - 1):
        response = sign_in(client, "alice", "wrong", "198.51.100.1")
        assert response.status_code == 200
        assert "Please enter the correct username and password" in response.text
    locked = sign_in(client, "alice", "wrong", "198.51.100.1")
    assert locked.status_code == 429
    assert "Too many failed sign-ins" in locked.text
    assert "locked for 15 minutes after 5 failed attempts" in locked.text
    # the right password no longer helps from there
    again = sign_in(client, "alice", PASSWORD, "198.51.100.1")
    assert again.status_code == 429
    assert "_auth_user_id" not in client.session


def test_the_real_user_elsewhere_and_other_users_still_sign_in(world, limit):
    attacker = Client()
    for _ in range(limit + 2):
        sign_in(attacker, "alice", "wrong", "198.51.100.1")
    alice = Client()
    assert sign_in(alice, "alice", PASSWORD, "192.0.2.7").status_code == 302
    bob_here = Client()
    response = sign_in(bob_here, "charlie", PASSWORD, "198.51.100.1")
    assert response.status_code == 302


def test_a_successful_sign_in_resets_the_count(world, limit):
    client = Client()
    for _ in range(limit - 1):
        sign_in(client, "alice", "wrong", "198.51.100.1")
    assert sign_in(client, "alice", PASSWORD, "198.51.100.1").status_code == 302
    client.logout()
    for _ in range(limit - 1):
        assert sign_in(client, "alice", "wrong", "198.51.100.1").status_code == 200
