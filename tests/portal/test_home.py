"""The home pages (member, org admin) and the models page, through the test client."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from gateway.models import ApiKey, UsageRecord
from models_catalog.models import Grant
from tests.conftest import World
from tests.factories import AIModelFactory, ProviderFactory


def used(org: Any, user: Any, n: int = 1, **fields: Any) -> None:
    values: dict[str, Any] = {
        "endpoint": "chat",
        "model_name": "m",
        "status_code": 200,
        "latency_ms": 120,
        "input_tokens": 1000,
        "output_tokens": 500,
        "cost": Decimal("1.5"),
    }
    values.update(fields)
    UsageRecord.objects.bulk_create(
        UsageRecord(
            organization=org,
            user=user,
            created_at=timezone.now() - timedelta(hours=1),
            **values,
        )
        for _ in range(n)
    )


@pytest.fixture
def acme_models(world: World) -> dict[str, Any]:
    provider = ProviderFactory(
        organization=world.acme,
        name="openai-main",
        health="available",
        health_checked_at=timezone.now() - timedelta(minutes=3),
        health_latency_ms=87,
        health_message="OK",
    )
    mini = AIModelFactory(
        provider=provider,
        model_id="gpt-4o-mini",
        name="GPT-4o mini",
        alias="mini",
        context_window=128000,
        input_cost_per_million=Decimal("0.15"),
        output_cost_per_million=Decimal("0.6"),
    )
    Grant.objects.create(model=mini, organization=world.acme)
    secret_model = AIModelFactory(provider=provider, model_id="private-x")
    globex_provider = ProviderFactory(
        organization=world.globex, name="globex-secret-provider"
    )
    AIModelFactory(provider=globex_provider, model_id="globex-model")
    return {"provider": provider, "mini": mini, "private": secret_model}


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_a_member_sees_their_models_usage_keys_and_quickstart(
    world: World, acme_models: dict[str, Any]
) -> None:
    used(world.acme, world.bob, 3)
    used(world.acme, world.bob, 1, status_code=500)
    used(world.acme, world.alice, 50, cost=Decimal(999))  # not bob's
    used(world.globex, world.bob, 70)  # another organization
    _key, secret = ApiKey.issue(world.acme, world.bob, "laptop")

    page = client_for(world.bob).get("/").content.decode()

    assert "Your usage, last 30 days" in page
    assert '<div class="value" data-stat="requests">4</div>' in page
    assert '<div class="value" data-stat="cost">$6.00</div>' in page
    assert "<code>mini</code>" in page and "openai-main/gpt-4o-mini" in page
    assert "128,000" in page and "$0.15" in page and "$0.60" in page
    assert "Available" in page and "checked 3" in page
    assert "private-x" not in page  # not shared with bob
    assert "globex" not in page
    assert "laptop" in page and secret not in page
    assert "http://testserver/v1" in page and "$MODELGATE_KEY" in page
    assert "model=&quot;mini&quot;" in page and "process.env.MODELGATE_KEY" in page
    assert "dashboard" not in page.lower().split("<main")[1].split("</h1>")[0]
    assert 'id="usage-data"' in page and "chart.umd.min.js" in page


def test_an_org_admin_sees_the_organization_dashboard(
    world: World, acme_models: dict[str, Any]
) -> None:
    used(world.acme, world.bob, 3, provider=acme_models["provider"])
    used(world.acme, world.alice, 1, status_code=502, latency_ms=900)
    used(world.globex, world.charlie, 40, cost=Decimal(777))

    page = client_for(world.alice).get("/?range=24h").content.decode()

    assert "Acme Corp dashboard" in page
    assert '<div class="value" data-stat="requests">4</div>' in page
    assert '<div class="value" data-stat="cost">$6.00</div>' in page
    assert "25 %" in page  # error rate
    assert "By API key (agent)" in page and "By user" in page
    assert "<td>bob " in page and "<td>alice " in page and "charlie" not in page
    assert "globex" not in page.lower() and "$777" not in page
    assert "87 ms" in page and "openai-main" in page  # health board
    assert "private-x" in page  # an org admin sees every model of the org
    assert 'aria-current="true">Last 24 hours' in page
    assert "Per hour" in page or "per hour" in page


def test_an_unknown_range_says_so_and_shows_the_default(world: World) -> None:
    response = client_for(world.alice).get("/?range=1y")
    assert response.status_code == 200
    page = response.content.decode()
    assert "Unknown range" in page
    assert 'aria-current="true">Last 7 days' in page


def test_empty_organizations_render_their_empty_states(world: World) -> None:
    member = client_for(world.bob).get("/").content.decode()
    assert "No models are shared with you" in member
    assert "No calls yet" in member
    assert "your-model" in member  # the quickstart's placeholder
    admin = client_for(world.alice).get("/").content.decode()
    assert "no provider yet" in admin and "No calls in this range." in admin
    assert "—" in admin  # no latency yet


def test_the_models_page_shows_the_shared_table(
    world: World, acme_models: dict[str, Any]
) -> None:
    page = client_for(world.bob).get("/models/").content.decode()
    assert "<code>mini</code>" in page and "128,000" in page and "Available" in page
    assert "private-x" not in page and "globex" not in page
    assert "cache read" not in page  # not priced: billed at the input price


def test_the_models_table_shows_cache_prices_under_the_input_price(
    world: World, acme_models: dict[str, Any]
) -> None:
    mini = acme_models["mini"]
    mini.cache_read_cost_per_million = Decimal("0.075")
    mini.cache_write_cost_per_million = Decimal("0.1875")
    mini.save()
    page = client_for(world.bob).get("/models/").content.decode()
    assert '<span class="muted small">cache read $0.075</span>' in page
    assert '<span class="muted small">cache write $0.19</span>' in page


def test_the_admin_home_makes_the_same_queries_for_any_amount_of_usage(
    world: World, acme_models: dict[str, Any]
) -> None:
    client = client_for(world.alice)
    client.get("/")  # the session and caches settle
    with CaptureQueriesContext(connection) as before:
        client.get("/?range=30d")
    used(world.acme, world.bob, 200, provider=acme_models["provider"])
    used(world.acme, world.alice, 30, model=acme_models["mini"])
    with CaptureQueriesContext(connection) as after:
        client.get("/?range=30d")
    assert len(after.captured_queries) == len(before.captured_queries)


@pytest.mark.django_db
def test_the_tables_label_each_utc_bucket_by_its_utc_day(
    world: World, settings: Any
) -> None:
    """Found in review: the "Day (UTC)" column was rendered in TIME_ZONE, so a
    zone west of UTC showed every bucket under the day before."""
    from datetime import UTC

    settings.TIME_ZONE = "America/Los_Angeles"
    used(world.acme, world.alice)
    page = client_for(world.alice).get("/?range=7d").content.decode()
    today = timezone.now().astimezone(UTC)
    assert f"<td>{today:%a %b} {today.day}</td>" in page
    week_ago = today - timedelta(days=7)  # outside the 7 buckets: never shown
    assert f"<td>{week_ago:%a %b} {week_ago.day}</td>" not in page


@pytest.mark.django_db
def test_a_fresh_operator_is_shown_how_to_start_and_a_stranger_whom_to_ask() -> None:
    from tests.factories import UserFactory

    operator = UserFactory(username="root", is_staff=True, is_superuser=True)
    page = client_for(operator).get("/").content.decode()
    assert "Create an organization" in page
    assert 'href="/admin/accounts/organization/add/"' in page
    stranger = client_for(UserFactory(username="nobody")).get("/").content.decode()
    assert "Ask an organization admin for an invitation" in stranger
    assert "/admin/" not in stranger
