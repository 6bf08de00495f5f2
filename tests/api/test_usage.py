"""Usage through the management API: read-only, filtered, with totals."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from gateway.models import ApiKey, UsageRecord
from tests.factories import AIModelFactory, ProviderFactory

URL = "organizations/acme/usage/"


@pytest.fixture
def calls(world):
    now = timezone.now()
    provider = ProviderFactory(organization=world.acme, name="main")
    model = AIModelFactory(provider=provider, model_id="gpt-4o")
    key, _ = ApiKey.issue(world.acme, world.bob, "bot")

    def record(org, ago, **fields):
        values = {
            "endpoint": "chat",
            "model_name": "gpt-4o",
            "status_code": 200,
            "input_tokens": 10,
            "output_tokens": 5,
            "cost": Decimal("0.5"),
            **fields,
        }
        return UsageRecord.objects.create(
            organization=org, created_at=now - ago, **values
        )

    record(
        world.acme,
        timedelta(hours=1),
        user=world.bob,
        api_key=key,
        provider=provider,
        model=model,
    )
    record(world.acme, timedelta(days=3), model_name="gpt-4o-mini", status_code=429)
    record(world.globex, timedelta(hours=1), cost=Decimal("9"))
    return now


def test_it_lists_the_organizations_calls_newest_first(api, calls):
    rows = api.alice.get(URL).json()["results"]
    assert [r["model_name"] for r in rows] == ["gpt-4o", "gpt-4o-mini"]
    assert rows[0]["user"] == "bob" and rows[0]["api_key"] == "bot"
    assert rows[0]["provider"] == "main" and rows[0]["model"] == "gpt-4o"


def test_filters_and_totals(api, calls):
    since = (calls - timedelta(days=1)).isoformat()
    recent = api.alice.get(URL, data={"since": since}).json()
    assert recent["count"] == 1
    assert api.alice.get(URL, data={"model": "gpt-4o-mini"}).json()["count"] == 1
    assert api.alice.get(URL, data={"api_key": "bot"}).json()["count"] == 1
    assert api.alice.get(URL, data={"user": "bob"}).json()["count"] == 1
    assert api.alice.get(URL, data={"provider": "nope"}).json()["count"] == 0
    totals = api.alice.get(URL + "totals/").json()
    assert totals == {
        "requests": 2,
        "errors": 1,
        "input_tokens": 20,
        "output_tokens": 10,
        "cost": "1.0000000000",
    }
    assert api.alice.get(URL + "totals/", data={"since": since}).json()["requests"] == 1


def test_a_bad_filter_is_a_400(api, calls):
    assert api.alice.get(URL, data={"since": "yesterday"}).status_code == 400


def test_usage_is_read_only(api, calls):
    assert api.alice.post(URL, {}).status_code == 405
    assert api.alice.delete(URL).status_code == 405


def test_another_organization_sees_only_its_own_calls(api, calls):
    assert api.charlie.get(URL).status_code == 404
    own = api.charlie.get("organizations/globex/usage/totals/").json()
    assert own["requests"] == 1 and own["cost"] == "9.0000000000"


def test_a_row_shows_its_request_id_and_search_units(world, api):
    UsageRecord.objects.create(
        organization=world.acme,
        endpoint="rerank",
        model_name="rerank-v3",
        status_code=200,
        request_id="req_acme_1",
        search_units=3,
    )
    UsageRecord.objects.create(
        organization=world.globex,
        endpoint="chat",
        model_name="gpt-4o",
        status_code=200,
        request_id="req_globex_1",
    )
    response = api.alice.get(URL)
    rows = response.json()["results"]
    assert [(r["request_id"], r["search_units"]) for r in rows] == [("req_acme_1", 3)]
    assert "req_globex_1" not in response.content.decode()


def test_a_limit_or_offset_out_of_range_is_a_400_not_the_default(api):
    for query in ("limit=abc", "limit=0", "limit=501", "offset=-1", "limit="):
        response = api.alice.get(f"{URL}?{query}")
        assert response.status_code == 400, query
    assert api.alice.get(f"{URL}?limit=5&offset=0").status_code == 200
