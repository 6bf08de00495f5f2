"""An org admin makes discovered models ready to use, in Chromium.

Against the production-like server: models discovered from the fake OpenAI on
loopback arrive with the catalog's prices; the admin activates several at
once, tests one (the answer comes back through the gateway), and shares it
with another organization through the grant form, after first submitting it
empty and reading what to choose.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from accounts.models import Membership
from gateway.models import UsageRecord
from models_catalog.models import AIModel, Grant
from providers.models import Provider
from tests.factories import MembershipFactory, OrganizationFactory, UserFactory
from tests.fakes import openai as fake_openai
from tests.fakes.server import FakeServer, serve
from tests.portal.browser import Visit, can_sign_in

pytestmark = pytest.mark.django_db(transaction=True)

KEY = "sk-browser-models-key"
MODELS = "/admin/models_catalog/aimodel/"


@pytest.fixture
def upstream() -> Iterator[FakeServer]:
    with serve(fake_openai.make_app(api_key=KEY)) as server:
        yield server


def run_action(tab: Visit, action: str, pks: list[int]) -> None:
    page = tab.page
    for pk in pks:
        page.check(f"input.action-select[value='{pk}']")
    page.select_option("select[name=action]", action)
    page.click("button[name=index]")
    page.wait_for_selector(".messagelist")


def test_an_org_admin_readies_discovered_models_tests_one_and_shares_it(
    visit: Callable[..., Visit], upstream: FakeServer
) -> None:
    acme = OrganizationFactory(slug="acme", name="Acme Corp")
    beta = OrganizationFactory(slug="beta", name="Beta Labs")
    alice = can_sign_in(UserFactory(username="alice", is_staff=True))
    for org in (acme, beta):
        MembershipFactory(user=alice, organization=org, role=Membership.Role.ADMIN)
    provider = Provider(
        organization=acme,
        owner=alice,
        name="openai-main",
        provider_type="openai",
        endpoint=upstream.url + "/v1",
        auth_method="bearer",
    )
    provider.seal("credentials", {"api_key": KEY})
    provider.save()

    tab = visit("admin-models")
    tab.sign_in("alice")
    page = tab.page

    # Discovery, from the provider list.
    tab.goto("/admin/providers/provider/")
    run_action(tab, "discover_models_now", [provider.pk])
    assert "4 added" in page.locator(".messagelist").inner_text()

    tab.goto(MODELS)
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 4
    mini = AIModel.objects.get(model_id="gpt-4o-mini")
    row = page.locator("#result_list tbody tr", has_text="gpt-4o-mini").first
    assert "$0.15 / $0.60" in row.inner_text()
    assert "CATALOG" in row.locator(".mg-price-source").inner_text().upper()
    provider_cell = row.locator("td.field-provider_and_organization").inner_text()
    assert "openai-main" in provider_cell and "Acme Corp" in provider_cell
    assert row.locator(".mg-badge.mg-type-inference").inner_text() == "Chat"
    assert row.locator("select.mg-status").input_value() == "inactive"
    tab.screenshot("discovered")

    # Several at once.
    chosen = list(
        AIModel.objects.filter(model_id__in=["gpt-4o-mini", "gpt-4o", "o3-mini"])
    )
    run_action(tab, "mark_active", [m.pk for m in chosen])
    assert "Activated 3 models." in page.locator(".messagelist").inner_text()
    assert {
        m.status for m in AIModel.objects.filter(pk__in=[m.pk for m in chosen])
    } == {"active"}
    select = page.locator("#result_list tbody tr", has_text="gpt-4o-mini").locator(
        "select.mg-status"
    )
    assert select.input_value() == "active"
    # The badge colour comes from the stylesheet (no inline style: the CSP).
    assert select.evaluate("e => getComputedStyle(e).backgroundColor") == (
        "rgb(220, 245, 227)"
    )
    tab.screenshot("activated")

    # Test one.
    tab.goto(f"{MODELS}{mini.pk}/change/")
    page.click("button.mg-test-button")
    page.wait_for_selector(".messagelist")
    message = page.locator(".messagelist .success").inner_text()
    assert "Test of openai-main/gpt-4o-mini: “Hello from openai: Say OK” in " in message
    assert KEY not in page.content()
    tab.screenshot("tested")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if UsageRecord.objects.filter(source="admin_test", model=mini).exists():
            break
        time.sleep(0.2)
    record = UsageRecord.objects.get(source="admin_test")
    assert (record.organization_id, record.user_id) == (acme.pk, alice.pk)

    # Share it with Beta Labs: first empty, then properly.
    tab.goto("/admin/models_catalog/grant/add/")
    assert (
        "may call it through the gateway" in page.locator("#content-main").inner_text()
    )
    page.click("input[name=_save]")
    page.wait_for_selector(".errorlist")
    errors = page.locator(".errorlist").all_inner_texts()
    assert (
        "Choose the model to share (or a provider, to share all its models)." in errors
    )
    assert any("Choose who gets access" in e for e in errors)
    assert "grant_exactly" not in page.content()
    tab.screenshot("grant-empty")
    labels = page.locator("#id_model option").all_inner_texts()
    assert "openai-main / gpt-4o-mini" in labels
    assert not any("text-embedding" in label for label in labels)  # inactive
    page.select_option("#id_model", label="openai-main / gpt-4o-mini")
    page.select_option("#id_organization", label="Beta Labs")
    page.click("input[name=_save]")
    page.wait_for_selector(".messagelist .success")
    assert Grant.objects.filter(model=mini, organization=beta).exists()
    tab.screenshot("granted")

    assert tab.failed == []
    assert tab.console == []
