"""A member uses the playground in Chromium and watches the reply stream in.

The model is served by the fake OpenAI on loopback, pausing after each chunk
so the page's reply can be seen growing; the site server (another process)
reaches it because the test environment allows private addresses.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from accounts.models import Membership
from gateway.models import UsageRecord
from models_catalog.models import AIModel, Grant
from providers.models import Provider
from tests.factories import MembershipFactory, OrganizationFactory, UserFactory
from tests.fakes import openai as fake_openai
from tests.fakes.server import FakeServer, serve
from tests.portal.browser import PHONE, SiteServer, Visit, can_sign_in

pytestmark = pytest.mark.django_db(transaction=True)

CHUNK_DELAY = 0.4


@pytest.fixture
def upstream() -> Iterator[FakeServer]:
    app = fake_openai.make_app(api_key="sk-browser-key", chunk_delay=CHUNK_DELAY)
    with serve(app) as server:
        yield server


def replied(page: Any, replies: int) -> None:
    """Wait until the page shows ``replies`` finished replies (no eval: the CSP)."""
    page.locator(".pg-turn.assistant").nth(replies - 1).wait_for()
    page.locator(".pg-turn.streaming").wait_for(state="detached")


def texts_while_streaming(tab: Visit) -> list[str]:
    """The reply's text, sampled until the Send button is enabled again."""
    seen: list[str] = []
    deadline = time.monotonic() + 15
    reply = tab.page.locator(".pg-turn.assistant .pg-text").last
    while time.monotonic() < deadline:
        if reply.count():
            text = reply.inner_text()
            if not seen or text != seen[-1]:
                seen.append(text)
        if tab.page.locator("#pg-send").is_enabled() and reply.count():
            break
        time.sleep(0.05)
    return seen


def test_a_member_streams_a_reply_in_the_playground(
    visit: Callable[..., Visit], upstream: FakeServer
) -> None:
    acme = OrganizationFactory(slug="acme", name="Acme Corp")
    bob = can_sign_in(UserFactory(username="bob"))
    MembershipFactory(user=bob, organization=acme, role=Membership.Role.MEMBER)
    provider = Provider(
        organization=acme,
        name="openai-main",
        provider_type="openai",
        endpoint=upstream.url + "/v1",
        auth_method="bearer",
    )
    provider.seal("credentials", {"api_key": "sk-browser-key"})
    provider.save()
    model = AIModel.objects.create(
        provider=provider,
        organization=acme,
        model_id="gpt-4o-mini",
        model_type=AIModel.ModelType.INFERENCE,
        input_cost_per_million=3,
        output_cost_per_million=15,
    )
    Grant.objects.create(model=model, organization=acme)

    tab = visit("playground")
    tab.sign_in("bob")
    tab.page.click("header nav >> text=Playground")
    tab.page.wait_for_load_state()
    assert tab.page.url.endswith("/playground/")
    assert tab.page.locator("#pg-stop").is_hidden()
    tab.check("empty")

    page = tab.page
    page.select_option("#pg-model", "openai-main/gpt-4o-mini")
    page.fill("#pg-system", "You answer briefly.")
    page.fill("#pg-temperature", "0.3")
    page.fill("#pg-max-tokens", "64")
    page.fill("#pg-message", "tell me about streaming")
    page.click("#pg-send")
    page.locator(".pg-turn.streaming").wait_for()
    assert page.locator("#pg-stop").is_visible()
    seen = texts_while_streaming(tab)
    final = "Hello from openai: tell me about streaming"
    assert seen[-1] == final
    # The reply grew in place: at least two partial texts before the last.
    partial = [t for t in seen if t and t != final]
    assert len(partial) >= 2, seen
    assert all(final.startswith(t) for t in partial)
    assert page.locator("#pg-tokens").inner_text() == "11 / 7"
    assert page.locator("#pg-cost").inner_text() == "$0.00014"
    assert page.locator("#pg-ttft").inner_text().endswith(" ms")
    assert page.locator("#pg-total").inner_text().endswith(" ms")
    assert page.locator("#pg-stop").is_hidden()
    tab.check("reply")

    # The next turn carries the conversation; Clear empties it.
    page.fill("#pg-message", "and again")
    page.click("#pg-send")
    replied(page, 2)
    assert page.locator(".pg-turn").count() == 4

    # A vendor error shows readably; the failed turn goes back to the box.
    page.fill("#pg-message", "FAIL 400")
    page.click("#pg-send")
    page.wait_for_selector("#pg-error:not([hidden])")
    error_text = page.locator("#pg-error").inner_text()
    assert error_text.startswith("Error 400:"), error_text
    assert page.locator("#pg-message").input_value() == "FAIL 400"
    assert page.locator(".pg-turn").count() == 4
    tab.check("vendor-error", allow_status=(400,))
    page.click("#pg-clear")
    assert page.locator(".pg-turn").count() == 0

    # Usage, written by the server within its flush interval, marked playground.
    deadline = time.monotonic() + 10
    rows: list[UsageRecord] = []
    while time.monotonic() < deadline:
        rows = list(UsageRecord.objects.filter(user=bob).order_by("created_at"))
        if len(rows) >= 3:
            break
        time.sleep(0.2)
    assert [r.status_code for r in rows] == [200, 200, 400]
    assert {r.source for r in rows} == {UsageRecord.Source.PLAYGROUND}
    assert rows[0].api_key_id is None and rows[0].output_tokens == 7

    phone = visit("playground-phone", viewport=PHONE)
    phone.sign_in("bob")
    phone.goto("/playground/")
    phone.page.fill("#pg-message", "hi from a phone")
    phone.page.click("#pg-send")
    replied(phone.page, 1)
    phone.check("reply")


@pytest.fixture
def starter_site(tmp_path: Any, upstream: FakeServer) -> Iterator[SiteServer]:
    """A second production-like server whose operator configured the starter key."""
    server = SiteServer(
        tmp_path,
        extra={
            "STARTER_OPENAI_API_KEY": "sk-browser-key",
            "STARTER_OPENAI_BASE_URL": upstream.url + "/v1",
        },
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_an_org_admin_adds_the_starter_model_in_one_click(
    visit: Callable[..., Visit], starter_site: SiteServer
) -> None:
    acme = OrganizationFactory(slug="acme", name="Acme Corp")
    ann = can_sign_in(UserFactory(username="ann", is_staff=True))
    MembershipFactory(user=ann, organization=acme, role=Membership.Role.ADMIN)

    tab = visit("playground-starter")
    tab.server = starter_site
    tab.sign_in("ann")
    # The admin's provider list offers the same button.
    tab.goto("/admin/providers/provider/")
    assert tab.page.locator(".starter-button").is_visible()
    tab.check("admin-offer")
    tab.goto("/playground/")
    button = tab.page.locator("button", has_text="Add starter playground LLM")
    assert button.is_visible()
    tab.check("offer")
    button.click()
    tab.page.wait_for_load_state()
    assert "Added the starter model gpt-4o-mini" in tab.page.inner_text(".messages")
    assert tab.page.locator("#pg-model").input_value() == "starter/gpt-4o-mini"
    tab.page.fill("#pg-message", "hello starter")
    tab.page.click("#pg-send")
    replied(tab.page, 1)
    assert tab.page.locator(".pg-turn.assistant .pg-text").inner_text() == (
        "Hello from openai: hello starter"
    )
    assert "sk-browser-key" not in tab.page.content()
    tab.check("added")
    assert Provider.objects.get(organization=acme).starter
