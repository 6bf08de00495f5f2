"""An org admin reads usage in a real browser: totals, a date drill-down, the CSV.

acme's admin sees its own keys' calls and globex's calls on acme's provider
(globex named, its user and key not); globex's own traffic never shows. At
1366 px the list fits without scrolling sideways.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from accounts.models import Membership, Organization
from gateway.models import ApiKey, UsageRecord
from tests.factories import MembershipFactory, ProviderFactory, UserFactory
from tests.portal.browser import Visit, can_sign_in

pytestmark = pytest.mark.django_db(transaction=True)

LAPTOP = {"width": 1366, "height": 768}


def test_an_org_admin_reads_totals_drills_into_a_day_and_exports_csv(
    visit: Callable[..., Visit], tmp_path: Path
) -> None:
    acme = Organization.objects.create(slug="acme", name="Acme Corp")
    globex = Organization.objects.create(slug="globex", name="Globex")
    alice = can_sign_in(UserFactory(username="alice", is_staff=True))
    MembershipFactory(user=alice, organization=acme, role=Membership.Role.ADMIN)
    charlie = UserFactory(username="charlie")
    MembershipFactory(user=charlie, organization=globex)
    provider = ProviderFactory(organization=acme, name="acme-openai")
    theirs = ProviderFactory(organization=globex, name="globex-private-provider")
    laptop, _ = ApiKey.issue(acme, alice, "alice-laptop")
    ci, _ = ApiKey.issue(acme, None, "nightly-ci")
    charlies, _ = ApiKey.issue(globex, charlie, "charlie-secret-key")

    def record(org: Organization, **fields: object) -> None:
        defaults = {"endpoint": "chat", "model_name": "gpt-4o-mini", "status_code": 200}
        UsageRecord.objects.create(organization=org, **{**defaults, **fields})

    day1 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    day2 = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
    ours = {"provider": provider, "provider_organization": acme}
    record(
        acme,
        user=alice,
        api_key=laptop,
        input_tokens=1200,
        output_tokens=300,
        cost=Decimal("0.0042"),
        latency_ms=812,
        created_at=day1,
        **ours,
    )
    record(
        acme,
        api_key=ci,
        input_tokens=5000,
        output_tokens=1000,
        stream=True,
        cost=Decimal("0.25"),
        latency_ms=1430,
        created_at=day2,
        **ours,
    )
    record(
        acme,
        api_key=ci,
        status_code=502,
        error_type="upstream_timeout",
        latency_ms=30000,
        created_at=day2,
        **ours,
    )
    record(
        globex,
        user=charlie,
        api_key=charlies,
        input_tokens=100,
        output_tokens=50,
        cost=Decimal("1.5"),
        latency_ms=95,
        created_at=day2,
        **ours,
    )  # globex calling acme's provider through a grant
    record(globex, user=charlie, api_key=charlies, provider=theirs,
           provider_organization=globex, model_name="globex-only-model",
           created_at=day1)  # fmt: skip

    tab = visit("admin-usage", viewport=LAPTOP)
    page = tab.page
    tab.sign_in("alice")
    tab.goto("/admin/gateway/usagerecord/")
    page.wait_for_selector("#result_list")

    def total(name: str) -> str:
        return page.inner_text(f'[data-total="{name}"]')

    assert [total(n) for n in ("requests", "input_tokens", "output_tokens")] == [
        "4",
        "6,300",
        "1,350",
    ]
    assert (total("cost"), total("errors")) == ("$1.75", "1")
    text = page.inner_text("#changelist")
    assert "Globex" in text and "on your provider" in text
    for hidden in ("charlie", "globex-only-model", "globex-private-provider"):
        assert hidden not in page.content()
    assert "$0.0042" in text and "30,000 ms" in text
    # Every column is on screen at 1366 px: nothing scrolls sideways.
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= LAPTOP["width"], f"the page is {width} px wide"
    # ... nor inside the list's own box (Django lets it scroll there), and the
    # last column (status) ends before the filter panel starts.
    results = page.locator("#changelist .results")
    assert results.evaluate("e => e.scrollWidth <= e.clientWidth")
    status = page.locator("#result_list th.column-status_badge").bounding_box()
    filters = page.locator("#changelist-filter").bounding_box()
    assert status is not None and filters is not None
    assert status["x"] + status["width"] <= filters["x"]
    badge = page.locator('.usage-badge[data-outcome="upstream"]')
    assert badge.inner_text() == "502"
    assert "upstream_timeout" in page.inner_text("#result_list")
    colour = badge.evaluate("e => getComputedStyle(e).backgroundColor")
    assert colour == "rgb(176, 42, 55)"  # the stylesheet's red: CSS applied
    tab.screenshot("list-1366")

    # Drill down to 21 November (every row is in one month: Django's
    # hierarchy opens on that month's days).
    page.click(".toplinks a >> text=November 21")
    page.wait_for_selector("#result_list")
    assert "created_at__day=21" in page.url
    assert (total("requests"), total("cost"), total("errors")) == ("3", "$1.75", "1")
    tab.screenshot("day-1366")

    with page.expect_download() as download_info:
        page.click("a.usage-export-link")
    saved = tmp_path / "usage.csv"
    download_info.value.save_as(saved)
    rows = list(csv.DictReader(io.StringIO(saved.read_text())))
    assert len(rows) == 3  # the day's rows: the export follows the filters
    assert {r["organization"] for r in rows} == {"Acme Corp", "Globex"}
    served = next(r for r in rows if r["organization"] == "Globex")
    assert (served["user"], served["api_key"]) == ("", "")
    assert served["provider_organization"] == "Acme Corp"
    assert served["cost_usd"].startswith("1.5")
    assert {r["api_key"] for r in rows} == {"nightly-ci", ""}
    assert "charlie" not in saved.read_text()

    # The key list: status badges, no red cross on a healthy key.
    tab.goto("/admin/gateway/apikey/")
    page.wait_for_selector("#result_list")
    assert page.locator('.key-badge[data-state="active"]').count() == 2
    assert page.locator("#result_list img[src*='icon-no']").count() == 0
    tab.screenshot("keys-1366")
    assert tab.failed == []
    assert tab.console == []
