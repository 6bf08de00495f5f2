"""The usage writer: batched inserts, and one bad record never sinks a batch."""

from __future__ import annotations

from decimal import Decimal

from gateway import usage
from gateway.apikeys import create_key
from gateway.models import UsageRecord


def record(org_id: int, key_id: int, **extra) -> None:
    usage.record(
        organization_id=org_id,
        user_id=None,
        api_key_id=key_id,
        provider_id=None,
        model_id=None,
        endpoint="chat",
        model_name="m",
        input_tokens=11,
        output_tokens=7,
        cost=Decimal("0.000138"),
        latency_ms=5,
        status_code=200,
        **extra,
    )


def test_a_batch_is_written_with_every_field(transactional_db, world):
    key, _ = create_key(organization=world.acme, name="k")
    usage.discard_queued()
    for _ in range(3):
        record(world.acme.pk, key.pk, stream=True, ttfb_ms=2)
    assert usage.flush() == 3
    rows = list(UsageRecord.objects.all())
    assert len(rows) == 3
    row = rows[0]
    assert (row.organization, row.api_key, row.stream, row.ttfb_ms) == (
        world.acme,
        key,
        True,
        2,
    )
    assert row.cost == Decimal("0.000138") and row.error_type == ""
    key.refresh_from_db()
    assert key.last_used_at is not None


def test_a_record_that_no_longer_fits_is_dropped_alone(transactional_db, world):
    key, _ = create_key(organization=world.acme, name="k")
    usage.discard_queued()
    record(world.acme.pk, key.pk)
    record(999_999, key.pk)  # its organization is gone
    record(world.acme.pk, key.pk)
    assert usage.flush() == 2
    assert UsageRecord.objects.count() == 2
    assert usage._buffer == []
