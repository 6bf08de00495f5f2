"""Shared fixtures: alice (acme admin), bob (acme member), charlie (another org)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import override_settings

from accounts.models import Membership, Organization, User
from gateway import throttle
from tests.factories import MembershipFactory, OrganizationFactory, UserFactory

PASSWORD = "correct horse battery staple"


@dataclass
class World:
    acme: Organization
    globex: Organization
    alice: User
    bob: User
    charlie: User


@pytest.fixture(scope="session")
def django_db_modify_db_settings(
    django_db_modify_db_settings_parallel_suffix: None,
) -> None:
    """On SQLite, a test database file instead of Django's shared-cache memory DB.

    Threads sharing the in-memory database fail at once with "database table is
    locked" (shared-cache locks ignore the busy timeout); on a file they wait for
    the lock like the web, worker and scheduler processes of a real instance.
    """
    db = settings.DATABASES["default"]
    if db["ENGINE"] == "django.db.backends.sqlite3":
        folder = Path(tempfile.mkdtemp(prefix="mg-test-db-"))
        db.setdefault("TEST", {})["NAME"] = str(folder / "test.sqlite3")


@pytest.fixture(autouse=True, scope="session")
def _unhashed_static_files(django_test_environment: None) -> Iterator[None]:
    # Hashed names need collectstatic's files; the suite renders pages without
    # them. tests/test_static_files.py runs the hashed storage as bin/run does.
    storages = dict(settings.STORAGES)
    storages["staticfiles"] = {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
    }
    with override_settings(STORAGES=storages):
        yield


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    # PBKDF2's deliberate slowness costs about a second per test user.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def world(db: None) -> World:
    acme = OrganizationFactory(slug="acme", name="Acme Corp")
    globex = OrganizationFactory(slug="globex", name="Globex")
    alice = UserFactory(username="alice", is_staff=True)
    bob = UserFactory(username="bob")
    charlie = UserFactory(username="charlie", is_staff=True)
    MembershipFactory(user=alice, organization=acme, role=Membership.Role.ADMIN)
    MembershipFactory(user=bob, organization=acme, role=Membership.Role.MEMBER)
    MembershipFactory(user=charlie, organization=globex, role=Membership.Role.ADMIN)
    return World(acme, globex, alice, bob, charlie)


@pytest.fixture(autouse=True)
def _fresh_auth_failure_counts() -> Iterator[None]:
    """Failed-key counts per address (127.0.0.1 in every test) start at zero.

    Tests that fail on purpose would otherwise push later tests, in this
    process or in Redis, over the throttle's limit.
    """
    throttle.reset_for_tests()
    clear_redis_counters("modelgate:authfail:*")
    yield
    throttle.reset_for_tests()
    clear_redis_counters("modelgate:authfail:*")


def clear_redis_counters(*patterns: str) -> None:
    """Counters outlive a test in Redis; ids restart in a new test DB."""
    from django.conf import settings

    if not settings.REDIS_URL:
        return
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        for pattern in patterns or (
            "modelgate:rl:*",
            "modelgate:tpm:*",
            "modelgate:budget:*",
            "modelgate:authfail:*",
        ):
            for key in client.scan_iter(pattern):
                client.delete(key)
    finally:
        client.close()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # Pooled clients of short-lived test event loops are collected at exit, after
    # the log streams closed; their "unclosed session" notes are only noise then.
    import logging

    logging.getLogger("asyncio").setLevel(logging.CRITICAL)
