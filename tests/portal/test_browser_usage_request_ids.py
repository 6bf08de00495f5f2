"""An org admin reads request ids in the usage list, in Chromium.

A user quotes the ``x-request-id`` of a failed call; the admin finds it by
pasting it into the search box (the production-like server, real sign-in).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from accounts.models import Membership
from gateway.models import UsageRecord
from tests.factories import MembershipFactory, OrganizationFactory, UserFactory
from tests.portal.browser import Visit, can_sign_in

pytestmark = pytest.mark.django_db(transaction=True)

LIST = "/admin/gateway/usagerecord/"
QUOTED = "req_" + "5f0c" * 8


def test_the_usage_list_shows_request_ids_and_finds_the_quoted_one(
    visit: Callable[..., Visit],
) -> None:
    acme = OrganizationFactory(slug="acme", name="Acme Corp")
    alice = can_sign_in(UserFactory(username="alice", is_staff=True))
    MembershipFactory(user=alice, organization=acme, role=Membership.Role.ADMIN)
    for request_id, status in ((QUOTED, 502), ("client-trace-42", 200), ("", 200)):
        UsageRecord.objects.create(
            organization=acme,
            endpoint="chat",
            model_name="gpt-4o-mini",
            status_code=status,
            request_id=request_id,
        )
    tab = visit("usage")
    tab.sign_in("alice")
    tab.goto(LIST)
    page = tab.page
    header = page.locator("#result_list th.column-created_at_display")
    assert "request id" in header.inner_text().lower()
    cells = page.locator("#result_list .usage-request-id")
    assert sorted(cells.all_inner_texts()) == ["", "client-trace-42", QUOTED]
    # Under the time, inside the list's box (a 1366 px screen, nothing scrolls).
    results = page.locator("#changelist .results")
    assert results.evaluate("e => e.scrollWidth <= e.clientWidth")
    tab.check("request-ids")

    page.fill("#searchbar", QUOTED)
    page.press("#searchbar", "Enter")
    page.wait_for_load_state()
    assert cells.all_inner_texts() == [QUOTED]
    tab.check("request-id-found")
