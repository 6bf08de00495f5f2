"""Two writes of one natural key at once: the loser is told, never a 500.

Each write checks that the name is free and then inserts; when another
request's insert of the same name is still uncommitted, the check passes and
the insert waits on the unique index, then fails when the other commits. The
test holds that other insert open in a transaction of its own, sends the API
request to the live server, waits until PostgreSQL shows it blocked, and only
then commits: the race, every time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from django.db import connection, connections, transaction

from api.models import ManagementToken
from gateway.models import ApiKey
from models_catalog.models import AIModel, Grant
from providers.models import Provider
from tests.factories import AIModelFactory, ProviderFactory

ACME = "/api/v1/organizations/acme/"


def _waiting_on_a_lock() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE wait_event_type = 'Lock' AND datname = current_database()"
        )
        return int(cursor.fetchone()[0])


def race(
    gateway: Any,
    token: str,
    method: str,
    path: str,
    body: Any,
    insert: Callable[[], object],
) -> httpx.Response:
    if connection.vendor != "postgresql":
        pytest.skip("the race needs PostgreSQL's row locks")
    inserted, commit = threading.Event(), threading.Event()

    def other_request() -> None:
        try:
            with transaction.atomic():
                insert()
                inserted.set()
                commit.wait(10)
        finally:
            connections.close_all()

    holder = threading.Thread(target=other_request)
    holder.start()
    assert inserted.wait(10)
    answers: list[httpx.Response] = []
    sender = threading.Thread(
        target=lambda: answers.append(
            httpx.request(
                method,
                gateway.url + path,
                json=body,
                headers={"Authorization": f"Bearer {token}"},
                timeout=20,
            )
        )
    )
    sender.start()
    deadline = time.monotonic() + 10
    while not _waiting_on_a_lock() and time.monotonic() < deadline:
        time.sleep(0.05)
    blocked = _waiting_on_a_lock()
    commit.set()
    holder.join(10)
    sender.join(20)
    seen = [a.text for a in answers]
    assert blocked, f"the request never waited on the other insert: {seen}"
    return answers[0]


@pytest.fixture
def token(gateway, world) -> str:
    _, secret = ManagementToken.issue(world.acme, world.alice, "race", "admin")
    return secret


def test_two_creates_of_one_api_key_name(gateway, world, token):
    answer = race(
        gateway,
        token,
        "POST",
        ACME + "api-keys/",
        {"name": "svc"},
        lambda: ApiKey.issue(world.acme, None, "svc"),
    )
    assert answer.status_code == 409, answer.text
    assert ApiKey.objects.filter(name="svc").count() == 1


def test_two_upserts_of_one_model(gateway, world, token):
    provider = ProviderFactory(organization=world.acme, name="main")
    answer = race(
        gateway,
        token,
        "PUT",
        ACME + "providers/main/models/gpt-4o/",
        {},
        lambda: AIModelFactory(provider=provider, model_id="gpt-4o"),
    )
    assert answer.status_code == 409, answer.text
    assert AIModel.objects.filter(model_id="gpt-4o").count() == 1


def test_two_upserts_of_one_provider(gateway, world, token):
    body = {
        "provider_type": "openai",
        "endpoint": "http://127.0.0.1:9/v1",
        "credentials": {"api_key": "sk-race"},
        "verify": False,
    }
    answer = race(
        gateway,
        token,
        "PUT",
        ACME + "providers/main/",
        body,
        lambda: ProviderFactory(organization=world.acme, name="main"),
    )
    assert answer.status_code == 409, answer.text
    assert Provider.objects.filter(name="main").count() == 1


def test_two_grants_of_one_model_to_one_member(gateway, world, token):
    model = AIModelFactory(
        provider=ProviderFactory(organization=world.acme, name="main"),
        model_id="gpt-4o",
    )
    body = {"provider": "main", "model_id": "gpt-4o", "user": "bob"}
    answer = race(
        gateway,
        token,
        "POST",
        ACME + "grants/",
        body,
        lambda: Grant.objects.create(model=model, user=world.bob),
    )
    assert answer.status_code == 409, answer.text
    assert Grant.objects.filter(model=model).count() == 1
