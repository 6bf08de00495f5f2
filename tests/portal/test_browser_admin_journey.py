"""Issue 11's journey in one sitting: from an empty organization to shared, used models.

In Chromium against the production-like server, as a new org admin would go:
add an OpenAI provider through the form (a wrong key is refused before save,
with the vendor's reason next to the key), watch the status panel turn
Available as discovery brings the models in with the catalog's prices,
activate several at once, test one, share it with another organization, and
read the usage: the test call and the other organization's call on this
provider, with their totals. The other organization's call goes through the
official ``openai`` SDK with its own key; the fake OpenAI listens on loopback.
(What a provider owner sees of an organization it does not administer is the
usage browser test's and the isolation matrix's.)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import openai
import pytest

from accounts.models import Membership
from gateway.models import ApiKey, UsageRecord
from models_catalog.models import AIModel, Grant
from tests.factories import MembershipFactory, OrganizationFactory, UserFactory
from tests.fakes import openai as fake_openai
from tests.fakes.server import FakeServer, serve
from tests.portal.browser import Visit, can_sign_in

pytestmark = pytest.mark.django_db(transaction=True)

KEY = "sk-journey-vendor-KEY-1"
WRONG_KEY = "sk-journey-wrong-KEY-2"


@pytest.fixture
def upstream() -> Iterator[FakeServer]:
    with serve(fake_openai.make_app(api_key=KEY)) as server:
        yield server


def run_action(tab: Visit, action: str, pks: list[int]) -> None:
    for pk in pks:
        tab.page.check(f"input.action-select[value='{pk}']")
    tab.page.select_option("select[name=action]", action)
    tab.page.click("button[name=index]")
    tab.page.wait_for_selector(".messagelist")


def wait_for_usage(count: int) -> None:
    deadline = time.monotonic() + 15
    while UsageRecord.objects.count() < count:
        assert time.monotonic() < deadline, "usage was not recorded"
        time.sleep(0.2)


def test_a_new_org_admin_goes_from_a_key_to_shared_used_models(
    visit: Callable[..., Visit], upstream: FakeServer
) -> None:
    acme = OrganizationFactory(slug="acme", name="Acme Corp")
    beta = OrganizationFactory(slug="beta", name="Beta Labs")
    alice = can_sign_in(UserFactory(username="alice", is_staff=True))
    # Sharing names the other organization: its admin too (as the admin's
    # choices only ever offer organizations one administers).
    for org in (acme, beta):
        MembershipFactory(user=alice, organization=org, role=Membership.Role.ADMIN)
    bob = UserFactory(username="bob")
    MembershipFactory(user=bob, organization=beta, role=Membership.Role.MEMBER)

    tab = visit("admin-journey")
    page = tab.page
    tab.sign_in("alice")

    # 1. The provider, verified before it is saved.
    tab.goto("/admin/providers/provider/add/")
    assert page.locator(".form-row.field-aws_access_key_id").is_hidden()
    page.select_option("#id_organization", label="Acme Corp")
    page.fill("#id_name", "openai-main")
    page.fill("#id_endpoint", upstream.url + "/v1")
    page.fill("#id_api_key", WRONG_KEY)
    page.click("input[name=_continue]")
    page.wait_for_selector(".errornote")
    assert page.locator(".form-row.field-api_key .errorlist").count() == 1
    assert WRONG_KEY not in page.content()
    tab.screenshot("wrong-key")
    page.fill("#id_api_key", KEY)
    page.click("input[name=_continue]")
    page.wait_for_selector(".messagelist .success")
    page.wait_for_selector("#provider-status[data-done=true]", timeout=30_000)
    panel = page.locator("#provider-status")
    assert panel.locator("[data-status=label]").inner_text() == "Available"
    assert panel.locator("[data-status=model_count]").inner_text() == "4"
    tab.screenshot("provider-available")

    # 2. Discovered with the catalog's prices; three activated at once.
    tab.goto("/admin/models_catalog/aimodel/")
    row = page.locator("#result_list tbody tr", has_text="gpt-4o-mini").first
    assert "$0.15 / $0.60" in row.inner_text()
    chosen = list(
        AIModel.objects.filter(model_id__in=["gpt-4o-mini", "gpt-4o", "o3-mini"])
    )
    assert len(chosen) == 3
    run_action(tab, "mark_active", [m.pk for m in chosen])
    assert "Activated 3 models." in page.locator(".messagelist").inner_text()
    tab.screenshot("models-activated")

    # 3. Test one.
    mini = AIModel.objects.get(model_id="gpt-4o-mini")
    tab.goto(f"/admin/models_catalog/aimodel/{mini.pk}/change/")
    page.click("button.mg-test-button")
    page.wait_for_selector(".messagelist .success")
    assert "Say OK" in page.locator(".messagelist").inner_text()
    tab.screenshot("model-tested")

    # 4. Share it with Beta Labs, whose member then calls it with the SDK.
    tab.goto("/admin/models_catalog/grant/add/")
    page.select_option("#id_model", label="openai-main / gpt-4o-mini")
    page.select_option("#id_organization", label="Beta Labs")
    page.click("input[name=_save]")
    page.wait_for_selector(".messagelist .success")
    assert Grant.objects.filter(model=mini, organization=beta).exists()
    _, secret = ApiKey.issue(beta, bob, "beta-agent")
    client = openai.OpenAI(
        base_url=f"{tab.server.url}/v1", api_key=secret, max_retries=0
    )
    answer = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
    )
    assert answer.choices[0].message.content
    wait_for_usage(2)

    # 5. The usage: both calls on Acme's provider, with their totals.
    tab.goto("/admin/gateway/usagerecord/")
    totals = page.locator(".usage-totals")
    assert totals.locator("[data-total=requests]").inner_text() == "2"
    assert totals.locator("[data-total=errors]").inner_text() == "0"
    listed = page.locator("#result_list").inner_text()
    assert "Beta Labs" in listed and "Acme Corp" in listed
    assert secret not in page.content() and KEY not in page.content()
    tab.check("usage")

    assert tab.failed == []
    assert tab.console == []
