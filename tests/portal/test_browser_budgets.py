"""Budgets in Chromium: the admin's list and form, the dashboards and the key
pages, signed in through the login form, at laptop width with no sideways
scroll, and only the viewer's organization's budgets."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest

from accounts.models import Membership
from gateway.models import ApiKey, Budget, UsageRecord
from tests.factories import (
    AIModelFactory,
    BudgetFactory,
    MembershipFactory,
    OrganizationFactory,
    ProviderFactory,
    UserFactory,
)
from tests.portal.browser import PHONE, Visit, can_sign_in

pytestmark = pytest.mark.django_db(transaction=True)

# Neither the page nor any table scrolls sideways.
NO_SIDEWAYS_SCROLL = (
    "() => [document.documentElement, ...document.querySelectorAll("
    "'.table-wrap, #changelist .results')].every("
    "(e) => e.scrollWidth <= e.clientWidth)"
)


def look_at_admin_form(tab: Visit, label: str) -> None:
    """A screenshot of an admin form, no script error, nothing failed to load.

    Not ``Visit.check``: axe-core on Django's own form pages trips over them
    (it resolves forms.css's ``@import`` against the page, and Django's date
    widgets' inline styles meet the CSP), as in the other admin form tests.
    """
    tab.screenshot(label)
    assert [c for c in tab.console if "pageerror" in c] == []
    assert tab.failed == []


def spend(org, cost, **who):
    UsageRecord.objects.create(
        organization=org,
        endpoint="chat",
        model_name="gpt-4o-mini",
        status_code=200,
        cost=Decimal(cost),
        **who,
    )


def test_budgets_on_the_admin_the_dashboards_and_the_key_pages(
    visit: Callable[..., Visit],
) -> None:
    acme = OrganizationFactory(slug="acme", name="Acme Corp")
    globex = OrganizationFactory(slug="globex", name="Globex")
    alice = can_sign_in(UserFactory(username="alice", is_staff=True))
    bob = can_sign_in(UserFactory(username="bob"))
    MembershipFactory(user=alice, organization=acme, role=Membership.Role.ADMIN)
    MembershipFactory(user=bob, organization=acme, role=Membership.Role.MEMBER)
    provider = ProviderFactory(organization=acme, name="openai-main")
    model = AIModelFactory(provider=provider, model_id="gpt-4o-mini")
    agent, _ = ApiKey.issue(acme, bob, "nightly-summarizer-agent")
    ApiKey.issue(acme, bob, "laptop")
    ops, _ = ApiKey.issue(acme, alice, "ops-dashboard")
    # The widest display prefixes a key can draw: the lists must not scroll
    # sideways whatever letters the keys' random prefixes hold.
    for n, key in enumerate(ApiKey.objects.filter(organization=acme)):
        ApiKey.objects.filter(pk=key.pk).update(prefix=f"mg-WWWWWWW{n}")
    ops.refresh_from_db()
    BudgetFactory(organization=acme, amount=Decimal("500"), period="month")
    BudgetFactory(
        organization=acme, scope="user", user=bob, amount=Decimal("40"), period="week"
    )
    BudgetFactory(
        organization=acme,
        scope="key",
        api_key=agent,
        amount=Decimal("5"),
        period="day",
    )
    BudgetFactory(
        organization=acme,
        scope="key",
        api_key=agent,
        amount=Decimal("100"),
        period="month",
    )
    BudgetFactory(
        organization=acme,
        scope="model",
        model=model,
        amount=Decimal("1"),
        period="total",
    )
    BudgetFactory(
        organization=acme, scope="provider", provider=provider, amount=Decimal("250")
    )
    BudgetFactory(organization=acme, scope="key", api_key=ops, amount=Decimal("20"))
    spend(acme, "4.35", user=bob, api_key=agent, model=model, provider=provider)
    spend(acme, "0.90", user=alice, api_key=ops, model=model, provider=provider)
    BudgetFactory(organization=globex, amount=Decimal("123456"))

    admin = visit("budgets-admin")
    admin.sign_in("alice")
    page = admin.page
    admin.goto("/admin/gateway/budget/")
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 7
    text = page.locator("#result_list").inner_text()
    assert "API key nightly-summarizer-agent" in text and "87 %" in text
    assert "525 %" in text  # the model's $1 total, 5.25 spent
    assert "123,456" not in page.content()
    assert page.evaluate(NO_SIDEWAYS_SCROLL)
    admin.check("admin-list")

    admin.goto("/admin/gateway/budget/add/")
    assert page.locator(".form-row.field-user").is_hidden()
    page.select_option("#id_scope", "key")
    assert page.locator(".form-row.field-api_key").is_visible()
    assert page.locator(".form-row.field-user").is_hidden()
    page.select_option("#id_api_key", label="ops-dashboard (" + ops.prefix + "…)")
    page.fill("#id_amount", "7.5")
    page.select_option("#id_period", "week")
    look_at_admin_form(admin, "admin-add")
    page.click("input[name=_save]")
    page.wait_for_load_state()
    assert Budget.objects.filter(api_key=ops, amount=Decimal("7.5")).exists()

    admin.goto("/admin/gateway/budget/add/")
    page.select_option("#id_scope", "user")
    page.fill("#id_amount", "3")
    page.click("input[name=_save]")
    page.wait_for_load_state()
    assert page.locator(".errorlist").first.inner_text() == (
        "Choose a user for this budget."
    )
    assert page.locator(".form-row.field-user").is_visible()
    look_at_admin_form(admin, "admin-add-error")

    admin.goto("/admin/gateway/apikey/")
    key_text = page.locator("#result_list").inner_text()
    assert "$4.35 of $5.00 · day" in key_text and "87 %" in key_text
    assert page.evaluate(NO_SIDEWAYS_SCROLL)
    admin.check("admin-keys")

    admin.goto("/")
    budgets = page.locator("table.budgets")
    assert budgets.locator("tbody tr").count() == 8
    assert "123,456" not in page.locator("main").inner_text()
    assert page.evaluate(NO_SIDEWAYS_SCROLL)
    admin.check("dashboard")

    member = visit("budgets-member")
    member.sign_in("bob")
    mpage = member.page
    shown = mpage.locator("table.budgets").inner_text()
    # The organization's, bob's own and his keys': not alice's key, the model's
    # or the provider's.
    assert "Organization Acme Corp" in shown and "User bob" in shown
    assert "nightly-summarizer-agent" in shown and "ops-dashboard" not in shown
    assert "model gpt-4o-mini" not in shown.lower()
    assert mpage.locator("table.budgets tbody tr").count() == 4
    assert mpage.evaluate(NO_SIDEWAYS_SCROLL)
    member.check("home")

    member.goto("/keys/")
    row = mpage.locator("table.keys tr", has_text="nightly-summarizer-agent")
    assert row.locator("meter").count() == 2
    assert "87 %" in row.inner_text()
    laptop = mpage.locator("table.keys tr", has_text="laptop")
    assert "none" in laptop.inner_text()
    member.check("keys")
    assert mpage.evaluate(NO_SIDEWAYS_SCROLL)

    phone = visit("budgets-member-phone", viewport=PHONE)
    phone.sign_in("bob")
    phone.check("home")
    phone.goto("/keys/")
    phone.check("keys")
