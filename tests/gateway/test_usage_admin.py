"""The usage list an org admin reads: both sides of a call, totals, dates, CSV.

acme (alice) owns a provider; globex (charlie) calls it through a grant. alice
sees that use with globex's name but not charlie's or his key's; charlie sees
it in full; an outsider's admin sees nothing of it.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.http import StreamingHttpResponse
from django.test import Client
from django.test.utils import CaptureQueriesContext

from accounts.models import Membership
from gateway import usage_export
from gateway.models import ApiKey, UsageRecord
from tests.conftest import World
from tests.factories import (
    MembershipFactory,
    OrganizationFactory,
    ProviderFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

LIST = "/admin/gateway/usagerecord/"
EXPORT = "/admin/gateway/usagerecord/export.csv"


def _record(**fields: object) -> UsageRecord:
    defaults: dict[str, object] = {
        "endpoint": "chat",
        "model_name": "gpt-test",
        "status_code": 200,
    }
    return UsageRecord.objects.create(**{**defaults, **fields})


@pytest.fixture
def rows(world: World) -> dict[str, UsageRecord]:
    acme_provider = ProviderFactory(organization=world.acme, name="acme-openai")
    globex_provider = ProviderFactory(organization=world.globex, name="globex-own")
    alice_key, _ = ApiKey.issue(world.acme, world.alice, "alice-laptop")
    charlie_key, _ = ApiKey.issue(world.globex, world.charlie, "charlie-secret-key")
    day1 = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
    day2 = datetime(2026, 11, 21, 15, 0, tzinfo=UTC)
    return {
        "own": _record(
            organization=world.acme, user=world.alice, api_key=alice_key,
            provider=acme_provider, provider_organization=world.acme,
            input_tokens=1200, output_tokens=300, cost=Decimal("0.0042"),
            latency_ms=812, created_at=day1,
        ),
        "own_error": _record(
            organization=world.acme, user=world.alice, api_key=alice_key,
            provider=acme_provider, provider_organization=world.acme,
            status_code=502, error_type="upstream_timeout", latency_ms=30000,
            created_at=day2,
        ),
        # globex's key on acme's provider (a grant shared the model).
        "served": _record(
            organization=world.globex, user=world.charlie, api_key=charlie_key,
            provider=acme_provider, provider_organization=world.acme,
            input_tokens=100, output_tokens=50, cost=Decimal("1.5"),
            latency_ms=90, created_at=day2,
        ),
        # globex on its own provider: acme has nothing to do with it.
        "private": _record(
            organization=world.globex, user=world.charlie, api_key=charlie_key,
            provider=globex_provider, provider_organization=world.globex,
            model_name="globex-private-model", created_at=datetime(
                2025, 3, 4, tzinfo=UTC
            ),
        ),
    }  # fmt: skip


def _client(user: object) -> Client:
    client = Client()
    client.force_login(user)  # type: ignore[arg-type]
    return client


def _ids(response: object) -> set[int]:
    return {r.pk for r in response.context["cl"].result_list}  # type: ignore[attr-defined]


def test_the_provider_owner_sees_others_use_of_its_provider_without_their_names(
    world: World, rows: dict[str, UsageRecord]
) -> None:
    alice = _client(world.alice)
    listing = alice.get(LIST)
    assert _ids(listing) == {rows["own"].pk, rows["own_error"].pk, rows["served"].pk}
    page = listing.content.decode()
    assert "Globex" in page and "on your provider" in page
    for hidden in ("charlie", "charlie-secret-key", "globex-private-model"):
        assert hidden not in page
    detail = alice.get(f"{LIST}{rows['served'].pk}/change/")
    assert detail.status_code == 200
    assert "charlie" not in detail.content.decode()
    assert alice.get(f"{LIST}{rows['private'].pk}/change/").status_code == 404
    # Searching a name of the other organization finds nothing (no inference).
    for term in ("charlie", "charlie-secret"):
        assert _ids(alice.get(LIST, {"q": term})) == set()
    assert _ids(alice.get(LIST, {"q": "alice-laptop"})) == {
        rows["own"].pk,
        rows["own_error"].pk,
    }
    assert _ids(alice.get(LIST, {"caller": "others"})) == {rows["served"].pk}

    charlie = _client(world.charlie)
    theirs = charlie.get(LIST)
    assert _ids(theirs) == {rows["served"].pk, rows["private"].pk}
    text = theirs.content.decode()
    assert "charlie-secret-key" in text and "alice" not in text
    assert charlie.get(f"{LIST}{rows['own'].pk}/change/").status_code == 404

    outsider = UserFactory(username="olga", is_staff=True)
    MembershipFactory(
        user=outsider, organization=OrganizationFactory(), role=Membership.Role.ADMIN
    )
    assert _ids(_client(outsider).get(LIST)) == set()


def test_the_list_reads_as_money_milliseconds_and_status_badges(
    world: World, rows: dict[str, UsageRecord]
) -> None:
    page = _client(world.alice).get(LIST).content.decode()
    assert "$0.0042" in page and "0.0042000000" not in page
    assert "812 ms" in page and "30,000 ms" in page
    assert "1,200 / 300" in page
    assert 'class="usage-badge" data-outcome="ok">200<' in page
    assert (
        'data-outcome="upstream">502</span><span class="usage-sub">upstream_timeout<'
        in page
    )
    # No boolean icons: a red ✖ on "not streamed" read as a failure.
    assert "icon-no" not in page and "icon-yes" not in page
    assert "gateway/usage.css" in page


def test_the_key_list_shows_active_expired_and_revoked_as_badges(
    world: World,
) -> None:
    ApiKey.issue(world.acme, None, "fine")
    ApiKey.issue(world.acme, None, "old", expires_at=datetime(2020, 1, 1, tzinfo=UTC))
    gone, _ = ApiKey.issue(world.acme, None, "gone")
    gone.revoke()
    page = _client(world.alice).get("/admin/gateway/apikey/").content.decode()
    for state in ("active", "expired", "revoked"):
        assert f'data-state="{state}">{state}<' in page
    assert "icon-no" not in page and "icon-yes" not in page


def test_totals_cover_the_filtered_set_above_the_list(
    world: World, rows: dict[str, UsageRecord]
) -> None:
    alice = _client(world.alice)
    everything = alice.get(LIST)
    assert everything.context["usage_totals"] == {
        "requests": "3",
        "input_tokens": "1,300",
        "output_tokens": "350",
        "errors": "1",
    }
    assert everything.context["usage_totals_cost"] == "$1.50"
    page = everything.content.decode()
    assert page.index('class="usage-totals"') < page.index('id="result_list"')
    failed = alice.get(LIST, {"outcome": "upstream"})
    assert failed.context["usage_totals"]["requests"] == "1"
    assert failed.context["usage_totals"]["errors"] == "1"
    assert failed.context["usage_totals_cost"] == "$0"


def test_the_date_drill_down_offers_only_the_viewers_dates(
    world: World, rows: dict[str, UsageRecord]
) -> None:
    alice = _client(world.alice)
    years = alice.get(LIST).context["cl"]
    page = alice.get(LIST).content.decode()
    # acme's rows are all in 2026; globex's private row (2025) offers no year.
    assert years.date_hierarchy == "created_at"
    assert "created_at__year=2025" not in page
    day = alice.get(
        LIST,
        {"created_at__year": 2026, "created_at__month": 11, "created_at__day": 21},
    )
    assert _ids(day) == {rows["own_error"].pk, rows["served"].pk}
    assert day.context["usage_totals"]["requests"] == "2"
    assert (
        "created_at__day=20"
        in alice.get(
            LIST, {"created_at__year": 2026, "created_at__month": 11}
        ).content.decode()
    )


def test_the_csv_export_streams_the_filtered_set_in_chunks(
    world: World, rows: dict[str, UsageRecord], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(usage_export, "EXPORT_CHUNK", 2)
    alice = _client(world.alice)
    page = alice.get(LIST, {"created_at__year": 2026}).content.decode()
    assert f"{EXPORT}?created_at__year=2026" in page  # the link keeps the filters
    response = alice.get(EXPORT)
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert "attachment" in response["Content-Disposition"]
    with CaptureQueriesContext(connection) as queries:
        body = b"".join(response.streaming_content).decode()  # type: ignore[arg-type]
    # Three rows, two per query: two chunk queries, read as the body streams.
    assert len(queries) == 2
    table = list(csv.DictReader(io.StringIO(body)))
    assert sorted(r["status_code"] for r in table) == ["200", "200", "502"]
    times = [r["time_utc"] for r in table]
    assert times == sorted(times, reverse=True)  # newest first, like the list
    served = next(r for r in table if r["organization"] == "Globex")
    assert (served["user"], served["api_key"]) == ("", "")
    assert served["provider_organization"] == "Acme Corp"
    assert served["cost_usd"] == "1.5000000000"
    own = next(r for r in table if r["latency_ms"] == "812")
    assert (own["user"], own["api_key"]) == ("alice", "alice-laptop")
    assert "charlie" not in body and "globex-private-model" not in body

    filtered = alice.get(EXPORT, {"outcome": "upstream"})
    lines = b"".join(filtered.streaming_content).decode().splitlines()  # type: ignore[arg-type]
    assert len(lines) == 2 and "upstream_timeout" in lines[1]

    charlie = b"".join(
        _client(world.charlie).get(EXPORT).streaming_content  # type: ignore[arg-type]
    ).decode()
    assert "charlie-secret-key" in charlie and "alice" not in charlie


def test_a_signed_out_visitor_cannot_export(world: World) -> None:
    response = Client().get(EXPORT)
    assert response.status_code == 302
    assert "/login/" in response["Location"]
