"""The home dashboards in Chromium: an org admin's charts for their organization
only, and a member's home with models and quickstart, at desktop and phone width."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from accounts.models import Membership
from gateway.models import UsageRecord
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


def usage(org: Any, user: Any, provider: Any, model: Any, n: int, **kw: Any) -> None:
    now = timezone.now()
    UsageRecord.objects.bulk_create(
        UsageRecord(
            organization=org,
            user=user,
            provider=provider,
            model=model,
            endpoint="chat",
            model_name=model.model_id,
            status_code=502 if i % 9 == 0 else 200,
            error_type="upstream_error" if i % 9 == 0 else "",
            input_tokens=400 + i * 13,
            output_tokens=120 + i * 7,
            cost=kw.get("cost", Decimal("0.0042") * (1 + i % 5)),
            latency_ms=150 + (i * 37) % 900,
            created_at=now - timedelta(hours=(i * 5) % (24 * 6), minutes=i % 60),
        )
        for i in range(n)
    )


def test_dashboards_show_each_organization_its_own_numbers(
    visit: Callable[..., Visit],
) -> None:
    acme = OrganizationFactory(slug="acme", name="Acme Corp")
    globex = OrganizationFactory(slug="globex", name="Globex")
    alice = can_sign_in(UserFactory(username="alice", is_staff=True))
    bob = can_sign_in(UserFactory(username="bob"))
    MembershipFactory(user=alice, organization=acme, role=Membership.Role.ADMIN)
    MembershipFactory(user=bob, organization=acme, role=Membership.Role.MEMBER)
    provider = ProviderFactory(
        organization=acme,
        name="openai-main",
        health="available",
        health_checked_at=timezone.now() - timedelta(minutes=4),
        health_latency_ms=212,
        health_message="Listed 42 models.",
    )
    ProviderFactory(
        organization=acme,
        name="anthropic-eu",
        provider_type="anthropic",
        health="unavailable",
        health_checked_at=timezone.now() - timedelta(minutes=9),
        health_message="Connection timed out after 5 s.",
    )
    mini = AIModelFactory(
        provider=provider,
        model_id="gpt-4o-mini",
        name="GPT-4o mini",
        context_window=128000,
        input_cost_per_million=Decimal("0.15"),
        output_cost_per_million=Decimal("0.60"),
    )
    Grant.objects.create(model=mini, organization=acme)
    usage(acme, bob, provider, mini, 300)
    usage(acme, alice, provider, mini, 40)
    other = ProviderFactory(organization=globex, name="globex-only-provider")
    other_model = AIModelFactory(provider=other, model_id="globex-model")
    usage(globex, None, other, other_model, 500, cost=Decimal("123.45"))

    admin = visit("dashboard-admin")
    admin.sign_in("alice")
    admin.goto("/?range=7d")
    page = admin.page
    assert page.locator("h1").inner_text() == "Acme Corp dashboard"
    assert page.locator("[data-stat=requests]").inner_text() == "340"
    page.wait_for_function(
        "() => document.querySelectorAll('canvas[data-chart]').length === 3"
        " && [...document.querySelectorAll('canvas[data-chart]')]"
        ".every((c) => Chart.getChart(c) !== undefined)"
    )
    body = page.locator("main").inner_text()
    assert "globex" not in body.lower() and "123.45" not in body
    assert "Connection timed out" in body and "212 ms" in body
    admin.check("desktop")
    admin.goto("/?range=24h")
    assert page.locator(".ranges [aria-current=true]").inner_text() == "Last 24 hours"
    admin.check("desktop-24h")

    phone = visit("dashboard-admin-phone", viewport=PHONE)
    phone.sign_in("alice")
    phone.page.wait_for_function(
        "() => Chart.getChart(document.querySelector('canvas'))"
    )
    phone.check("phone")

    member = visit("home-member")
    member.sign_in("bob")
    mpage = member.page
    assert mpage.locator("h1").inner_text() == "Welcome, bob"
    assert mpage.locator("[data-stat=requests]").inner_text() == "300"
    mpage.wait_for_function("() => Chart.getChart(document.querySelector('canvas'))")
    assert mpage.locator("table.models code", has_text="gpt-4o-mini").count() >= 1
    assert "globex" not in mpage.locator("main").inner_text().lower()
    assert "$MODELGATE_KEY" in mpage.locator("#snippet-curl").inner_text()
    member.check("desktop")

    member_phone = visit("home-member-phone", viewport=PHONE)
    member_phone.sign_in("bob")
    member_phone.check("phone")
