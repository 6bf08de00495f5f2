"""Prompt-cache tokens: counted, stored and billed at the model's cache prices.

Each vendor's strict fake reports cache reads (and writes, where the vendor
has them) its own way: Anthropic's ``cache_read_input_tokens`` and
``cache_creation_input_tokens``, Bedrock's ``cacheReadInputTokens`` and
``cacheWriteInputTokens``, OpenAI's ``prompt_tokens_details.cached_tokens``,
Gemini's ``cachedContentTokenCount``. A call through the live gateway ends in a
usage record whose ``input_tokens`` still counts every prompt token, whose
cache counts are the vendor's, and whose cost bills the cached parts at the
model's cache prices, or at its input price when it has none.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import openai
import pytest
from django.conf import settings

from gateway import usage
from gateway.models import ApiKey, UsageRecord
from models_catalog.models import AIModel
from tests.gateway import upstreams

INPUT, OUTPUT = Decimal(3), Decimal(15)  # what upstreams.register prices
CACHE_READ, CACHE_WRITE = Decimal("0.30"), Decimal("3.75")
# vendor → (fake options, prompt tokens, cache reads, cache writes)
CASES: dict[str, tuple[dict[str, Any], int, int, int]] = {
    "anthropic": (
        {"cache_read_tokens": 40_000, "cache_creation_tokens": 10_000},
        50_011,
        40_000,
        10_000,
    ),
    "bedrock": ({"cache_tokens": True}, 19, 5, 3),
    "openai": ({"cached_tokens": 2_048}, 2_059, 2_048, 0),
    "gemini": ({"cached_tokens": 30_000}, 30_011, 30_000, 0),
}


def expected_cost(prompt: int, read: int, write: int, priced: bool) -> Decimal:
    read_price, write_price = (CACHE_READ, CACHE_WRITE) if priced else (INPUT, INPUT)
    dollars = (
        (prompt - read - write) * INPUT
        + read * read_price
        + write * write_price
        + 7 * OUTPUT  # every fake answers with 7 output tokens
    )
    return dollars / 1_000_000


def call(
    vendor: str, gateway: Any, world: Any, *, stream: bool, priced: bool
) -> tuple[Any, UsageRecord]:
    options, *_ = CASES[vendor]
    with upstreams.start(vendor, **options) as upstream:
        provider = upstreams.register(upstream, world.acme)
        if priced:
            AIModel.objects.filter(provider=provider).update(
                cache_read_cost_per_million=CACHE_READ,
                cache_write_cost_per_million=CACHE_WRITE,
            )
        _, secret = ApiKey.issue(organization=world.acme, user=world.bob, name="k")
        sdk = openai.OpenAI(base_url=gateway.v1, api_key=secret, max_retries=0)
        messages: Any = [{"role": "user", "content": "hi"}]
        if stream:
            chunks = list(
                sdk.chat.completions.create(
                    model=upstream.chat_model,
                    messages=messages,
                    stream=True,
                    stream_options={"include_usage": True},
                )
            )
            answered = chunks[-1].usage
        else:
            answered = sdk.chat.completions.create(
                model=upstream.chat_model, messages=messages
            ).usage
    usage.flush()
    return answered, UsageRecord.objects.get()


@pytest.mark.parametrize("priced", [True, False], ids=["cache-priced", "unpriced"])
@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("vendor", list(CASES))
def test_a_call_records_the_vendors_cache_tokens_and_bills_them(
    vendor: str, stream: bool, priced: bool, gateway: Any, world: Any
) -> None:
    _, prompt, read, write = CASES[vendor]
    answered, record = call(vendor, gateway, world, stream=stream, priced=priced)
    assert answered.prompt_tokens == prompt
    assert answered.prompt_tokens_details.cached_tokens == read
    assert (record.stream, record.usage_estimated) == (stream, False)
    assert (
        record.input_tokens,
        record.cache_read_tokens,
        record.cache_creation_tokens,
        record.output_tokens,
    ) == (prompt, read, write, 7)
    assert record.cost == expected_cost(prompt, read, write, priced)


@pytest.mark.parametrize(
    ("priced", "dollars"),
    [
        # 11 x $3 + 40,000 x $0.30 + 10,000 x $3.75 + 7 x $15, per million.
        (True, "0.049638"),
        # Every prompt token at the input price: 50,011 x $3 + 7 x $15.
        (False, "0.150138"),
    ],
)
def test_an_anthropic_call_costs_this_much_to_the_cent(
    priced: bool, dollars: str, gateway: Any, world: Any
) -> None:
    """50,011 prompt tokens, 40,000 read and 10,000 written, and 7 out."""
    _, record = call("anthropic", gateway, world, stream=False, priced=priced)
    assert record.cost == Decimal(dollars)


def test_a_call_without_cache_tokens_records_zeros(gateway: Any, world: Any) -> None:
    with upstreams.start("openai") as upstream:
        upstreams.register(upstream, world.acme)
        _, secret = ApiKey.issue(organization=world.acme, user=world.bob, name="k")
        sdk = openai.OpenAI(base_url=gateway.v1, api_key=secret, max_retries=0)
        messages: Any = [{"role": "user", "content": "hi"}]
        sdk.chat.completions.create(model=upstream.chat_model, messages=messages)
    usage.flush()
    record = UsageRecord.objects.get()
    assert (record.cache_read_tokens, record.cache_creation_tokens) == (0, 0)
    assert record.cost == (11 * INPUT + 7 * OUTPUT) / 1_000_000


@pytest.mark.parametrize(
    ("details", "counts"),
    [
        ({"cached_tokens": 6, "cache_creation_tokens": 2}, (6, 2)),
        ({"cached_tokens": 6}, (6, 0)),
        ({}, (0, 0)),
        (None, (0, 0)),
        ("garbage", (0, 0)),
        ({"cached_tokens": "6", "cache_creation_tokens": None}, (0, 0)),
        ({"cached_tokens": True, "cache_creation_tokens": 2.5}, (0, 0)),
        ({"cached_tokens": -4, "cache_creation_tokens": 3}, (0, 3)),
        # More than the prompt: reads first, then writes, up to the prompt.
        ({"cached_tokens": 50, "cache_creation_tokens": 5}, (10, 0)),
        ({"cached_tokens": 8, "cache_creation_tokens": 5}, (8, 2)),
    ],
)
def test_cache_counts_are_read_from_the_usage_and_kept_within_the_prompt(
    details: Any, counts: tuple[int, int]
) -> None:
    data = {"prompt_tokens": 10, "completion_tokens": 1}
    if details is not None:
        data["prompt_tokens_details"] = details
    assert usage.cache_tokens(data, 10) == counts


def test_the_cost_is_never_negative_whatever_the_vendor_reports() -> None:
    one = Decimal(1_000_000)  # $1 per token, so costs read as token counts
    assert usage.cost(10, 2, one, one) == 12
    assert (
        usage.cost(10, 2, one, one, cache_read_tokens=4, cache_read_price=Decimal(0))
        == 8
    )
    assert (
        usage.cost(10, 0, one, one, cache_read_tokens=40, cache_read_price=Decimal(0))
        == 0
    )
    assert usage.cost(-5, -5, one, one, cache_write_tokens=-3) == 0
    # An unpriced cache part costs what the input does.
    assert usage.cost(10, 0, one, one, cache_write_tokens=4) == 10
    assert (
        usage.cost(
            10,
            0,
            one,
            one,
            cache_read_tokens=4,
            cache_write_tokens=4,
            cache_read_price=Decimal(0),
            cache_write_price=2 * one,
        )
        == 2 + 8
    )


def test_a_replayed_journal_keeps_the_cache_counts(
    transactional_db: None, world: Any
) -> None:
    key, _ = ApiKey.issue(organization=world.acme, user=None, name="k")
    usage.discard_queued()
    usage.record(
        organization_id=world.acme.pk,
        api_key_id=key.pk,
        endpoint="chat",
        model_name="m",
        input_tokens=100,
        cache_read_tokens=60,
        cache_creation_tokens=30,
        cost=Decimal("0.000321"),
        status_code=200,
    )
    segment = usage.journal_path()
    assert segment is not None
    journaled = segment.read_bytes()
    usage.discard_queued()
    (settings.USAGE_JOURNAL_DIR / "99997-dead.jnl").write_bytes(journaled)
    assert usage.recover_journals() == 1
    row = UsageRecord.objects.get()
    assert (row.input_tokens, row.cache_read_tokens, row.cache_creation_tokens) == (
        100,
        60,
        30,
    )
    assert row.cost == Decimal("0.000321")


def test_a_row_inserted_without_the_cache_columns_gets_zeros(
    transactional_db: None, world: Any
) -> None:
    """A process of the previous release inserts rows without the new columns."""
    from django.db import connection

    table = UsageRecord._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (organization_id, endpoint, source, model_name,"
            " stream, input_tokens, output_tokens, cost, latency_ms, status_code,"
            " error_type, usage_estimated, created_at)"
            " VALUES (%s, 'chat', 'api', 'm', false, 5, 1, 0, 1, 200, '', false,"
            " now())",
            [world.acme.pk],
        )
    row = UsageRecord.objects.get()
    assert (row.cache_read_tokens, row.cache_creation_tokens) == (0, 0)
    assert row.request_id == ""  # nor the request id (gateway 0011)
