"""Budgets and token limits through the live gateway, with Redis and without.

Each test runs twice: against the Redis script (when ``REDIS_URL`` is set) and
against the in-process ledger of the embedded platform. The vendor is the
strict OpenAI fake; its usage is 11 prompt + 7 completion tokens, at the
registered prices ($3 and $15 per million) 138 µUSD a call. A call asking for
``max_tokens: 7`` reserves 14 + 7 tokens: 147 µUSD.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import openai
import pytest

from gateway.models import ApiKey, Budget
from models_catalog.models import AIModel
from tests.gateway import upstreams

CALL_COST = Decimal("0.000138")
RESERVED = Decimal("0.000147")


@pytest.fixture(params=["redis", "local"])
def ledger(request, settings) -> str:
    if request.param == "redis" and not settings.REDIS_URL:
        pytest.skip("REDIS_URL is not set")
    if request.param == "local":
        settings.REDIS_URL = ""
    return str(request.param)


@pytest.fixture
def fake() -> Iterator[upstreams.Upstream]:
    with upstreams.start("openai", chunk_delay=0.2) as upstream:
        yield upstream


@pytest.fixture
def acme(gateway, ledger, world, fake) -> dict[str, Any]:
    provider = upstreams.register(fake, world.acme, timeout_total=1.0)
    key, secret = ApiKey.issue(organization=world.acme, user=world.bob, name="bob")
    return {
        "provider": provider,
        "model": AIModel.objects.get(provider=provider, model_id="gpt-4o-mini"),
        "key": key,
        "client": httpx.Client(
            base_url=gateway.v1,
            headers={"Authorization": f"Bearer {secret}"},
            timeout=10,
        ),
        "secret": secret,
    }


def chat(client: httpx.Client, text: str = "hi", **extra: Any) -> httpx.Response:
    return client.post(
        "/chat/completions",
        json={
            "model": "gpt-4o-mini",
            "max_tokens": 7,
            "messages": [{"role": "user", "content": text}],
            **extra,
        },
    )


def budget(world, amount: str, **target: Any) -> Budget:
    scope = next(iter(target), "organization")
    scope = {"api_key": "key"}.get(scope, scope)
    return Budget.objects.create(
        organization=world.acme, scope=scope, amount=Decimal(amount), **target
    )


def test_a_budget_stops_calls_at_its_limit_in_openai_and_anthropic_envelopes(
    acme, world
):
    budget(world, "0.0005")
    statuses = [chat(acme["client"]).status_code for _ in range(3)]
    assert statuses == [200, 200, 200]
    refused = chat(acme["client"])
    assert refused.status_code == 429
    error = refused.json()["error"]
    assert error["type"] == "insufficient_quota"
    assert error["code"] == "insufficient_quota"
    assert "organization Acme Corp" in error["message"]
    assert "limit 0.0005 USD per month, 0.0004" in error["message"]
    assert int(refused.headers["retry-after"]) > 0
    messages = acme["client"].post(
        "/messages",
        headers={"anthropic-version": "2023-06-01"},
        json={
            "model": "gpt-4o-mini",
            "max_tokens": 7,
            "messages": [{"role": "user", "content": "hi"}],
        },
    )
    assert messages.status_code == 429
    assert messages.json()["type"] == "error"
    assert messages.json()["error"]["type"] == "rate_limit_error"
    assert (
        "Budget exceeded for organization Acme Corp"
        in messages.json()["error"]["message"]
    )
    # Three calls were spent, no more.
    from gateway import usage

    usage.flush()
    from gateway.budgets.status import status

    assert status(Budget.objects.get()).spent == 3 * CALL_COST


@pytest.mark.parametrize("scope", ["organization", "user", "key", "model", "provider"])
def test_each_scope_applies_to_its_calls_and_no_other(acme, world, scope):
    targets = {
        "organization": {},
        "user": {"user": world.bob},
        "key": {"api_key": acme["key"]},
        "model": {"model": acme["model"]},
        "provider": {"provider": acme["provider"]},
    }
    # Another user's budget, an inactive one and another organization's do not
    # count: the call goes through.
    budget(world, "0", user=world.alice)
    Budget.objects.create(
        organization=world.acme, scope="organization", amount=0, is_active=False
    )
    Budget.objects.create(organization=world.globex, scope="organization", amount=0)
    assert chat(acme["client"]).status_code == 200
    spent = budget(world, "0", **targets[scope])
    time.sleep(1.6)  # the organization's budgets are cached for up to 1.5 s
    refused = chat(acme["client"])
    assert refused.status_code == 429, refused.text
    assert refused.json()["error"]["message"].startswith(
        f"Budget exceeded for {spent.target_label()}"
    )


def test_a_failed_call_gives_its_reservation_back(acme, world):
    # Room for one reservation: a held one would refuse the next call.
    budget(world, "0.0002")
    failed = chat(acme["client"], "FAIL 500")
    assert failed.status_code >= 500
    assert chat(acme["client"]).status_code == 200


def test_a_timed_out_call_gives_its_reservation_back(acme, world):
    budget(world, "0.0002")
    timed_out = chat(acme["client"], "SLOW 3")
    assert timed_out.status_code == 504
    assert chat(acme["client"]).status_code == 200


def test_a_caller_who_leaves_pays_the_prompt_not_the_reservation(acme, world, gateway):
    # Room for the warm call and two reservations, not three.
    budget(world, "0.0004")
    assert chat(acme["client"]).status_code == 200  # the counter exists now
    with (
        httpx.Client(
            base_url=gateway.v1,
            headers={"Authorization": f"Bearer {acme['secret']}"},
            timeout=0.6,
        ) as impatient,
        pytest.raises(httpx.ReadTimeout),
    ):
        chat(impatient, "SLOW 3")
    time.sleep(0.3)
    # The reservation is down to the prompt's estimate: room for another call.
    assert chat(acme["client"]).status_code == 200
    from gateway import usage
    from gateway.models import UsageRecord

    usage.flush()
    left = UsageRecord.objects.get(status_code=499)  # not 504: it left first
    assert left.usage_estimated and left.input_tokens > 0 and left.output_tokens == 0
    assert left.cost > 0
    assert left.error_type == "client_disconnected"


def test_a_stream_the_caller_leaves_settles_what_it_delivered(acme, world, gateway):
    budget(world, "0.0002")
    with acme["client"].stream(
        "POST",
        "/chat/completions",
        json={
            "model": "gpt-4o-mini",
            "max_tokens": 7,
            "stream": True,
            "messages": [{"role": "user", "content": "hi"}],
        },
    ) as answer:
        assert answer.status_code == 200
        next(answer.iter_lines())
    time.sleep(0.5)
    # The reservation is gone; what was delivered (an estimate) is spent.
    assert chat(acme["client"]).status_code == 200


def test_token_limits_and_ratelimit_headers_as_openai_sends_them(acme, world, gateway):
    ApiKey.objects.filter(pk=acme["key"].pk).update(
        requests_per_minute=10, tokens_per_minute=40
    )
    time.sleep(1.6)
    client = openai.OpenAI(base_url=gateway.v1, api_key=acme["secret"], max_retries=0)
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini",
        max_tokens=7,
        messages=[{"role": "user", "content": "hi"}],
    )
    headers = raw.headers
    assert headers["x-ratelimit-limit-requests"] == "10"
    assert headers["x-ratelimit-remaining-requests"] == "9"
    assert headers["x-ratelimit-reset-requests"] == "1m0s"
    assert headers["x-ratelimit-limit-tokens"] == "40"
    # 14 input tokens estimated, 7 output: 21 reserved when admitted.
    assert headers["x-ratelimit-remaining-tokens"] == "19"
    assert headers["x-ratelimit-reset-tokens"] == "1m0s"
    time.sleep(0.2)
    # Settled to the vendor's 18: 22 left, and the next 21 fit once.
    assert chat(acme["client"]).status_code == 200
    with pytest.raises(openai.RateLimitError) as refused:
        client.chat.completions.create(
            model="gpt-4o-mini",
            max_tokens=7,
            messages=[{"role": "user", "content": "hi"}],
        )
    assert "tokens per minute" in refused.value.message
    assert refused.value.response.headers["x-ratelimit-remaining-tokens"] == "4"
    assert refused.value.response.headers["x-ratelimit-limit-tokens"] == "40"


def test_model_and_provider_token_limits_count_every_key(acme, world, gateway):
    AIModel.objects.filter(pk=acme["model"].pk).update(tokens_per_minute=45)
    _, other = ApiKey.issue(organization=world.acme, user=world.alice, name="alice")
    time.sleep(1.6)
    assert chat(acme["client"]).status_code == 200
    time.sleep(0.2)
    with httpx.Client(
        base_url=gateway.v1, headers={"Authorization": f"Bearer {other}"}
    ) as alice:
        assert chat(alice).status_code == 200
        time.sleep(0.2)
        refused = chat(alice)
    assert refused.status_code == 429
    assert "model (tokens per minute)" in refused.json()["error"]["message"]


def test_no_caps_no_headers(acme):
    answer = chat(acme["client"])
    assert answer.status_code == 200
    assert not [h for h in answer.headers if h.startswith("x-ratelimit-")]


def test_a_call_meeting_every_kind_of_budget_at_once_is_admitted(acme, world):
    """Each budget's counter is new (a period's first call, or Redis lost
    them): every one is seeded before the call is admitted."""
    for target in (
        {},
        {"user": world.bob},
        {"api_key": acme["key"]},
        {"model": acme["model"]},
        {"provider": acme["provider"]},
    ):
        budget(world, "1", **target)
    assert chat(acme["client"]).status_code == 200


def test_an_edited_budget_counts_from_the_usage_records_again(acme, world):
    """Calls made while a budget was inactive were not counted by it; once it
    is active again it starts from what the usage records say."""
    from gateway import usage

    limit = budget(world, "0.0005")
    assert [chat(acme["client"]).status_code for _ in range(2)] == [200, 200]
    limit.is_active = False
    limit.save()
    time.sleep(1.6)
    assert [chat(acme["client"]).status_code for _ in range(2)] == [200, 200]
    usage.flush()
    limit.is_active = True
    limit.save()
    time.sleep(1.6)
    # Four calls spent (552 µUSD): over the limit, whatever the old count said.
    refused = chat(acme["client"])
    assert refused.status_code == 429, refused.text


def test_the_estimate_counts_text_beyond_ascii_a_token_a_character():
    from gateway.estimate import request_tokens

    assert request_tokens("日本語のテキスト") == 8
    assert request_tokens("abcdefgh") == 2
    assert request_tokens({"messages": [{"content": "日本"}]}) == 2 + 2 * 4
