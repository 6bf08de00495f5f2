"""The daily digest (opt-in) and spike alerts: each sent once per day or hour."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core import mail

from gateway.budgets import digest, spikes
from gateway.budgets.tasks import check_alerts, send_digests
from gateway.models import AlertSent, AlertSettings, ApiKey, Budget
from tests.gateway.budgets.conftest import spend, with_webhook


def midnight() -> datetime:
    return datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def test_the_digest_is_sent_once_a_day_to_organizations_that_asked(world):
    AlertSettings.objects.create(organization=world.acme, daily_digest=True)
    key, _ = ApiKey.issue(world.acme, world.bob, "ci-bot")
    Budget.objects.create(
        organization=world.acme, scope="organization", amount=Decimal("100")
    )
    day = midnight() - timedelta(days=1)
    spend(world.acme, "2.5", at=day + timedelta(hours=3), model_name="gpt-4o")
    spend(
        world.acme,
        "1",
        at=day + timedelta(hours=4),
        model_name="o3-mini",
        user=world.bob,
        api_key=key,
    )
    spend(world.acme, "40", at=day - timedelta(hours=1))  # the day before: not in it
    spend(world.globex, "9", at=day + timedelta(hours=5))  # another organization's
    for _ in range(3):
        send_digests()
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["alice@example.test"]
    assert message.subject == f"[Modelgate] Acme Corp: spend on {day:%Y-%m-%d}"
    assert "3.5000 USD in 2 calls" in message.body
    assert "gpt-4o: 2.5000 USD" in message.body and "o3-mini: 1.0000" in message.body
    assert "bob: 1.0000 USD" in message.body and "ci-bot: 1.0000 USD" in message.body
    assert "organization Acme Corp: " in message.body  # the budget's status
    assert "Globex" not in message.body and "9.0000" not in message.body
    rows = AlertSent.objects.filter(kind="digest")
    assert list(rows.values_list("organization__slug", "period_start")) == [
        ("acme", day)
    ]


def test_no_digest_unless_asked(world):
    AlertSettings.objects.create(organization=world.acme, daily_digest=False)
    spend(world.acme, "2", at=midnight() - timedelta(hours=2))
    send_digests()
    assert digest.send_digest(world.globex.pk) is False
    assert mail.outbox == []


def test_the_digest_goes_to_the_webhook_too(
    world, receiver, django_capture_on_commit_callbacks
):
    secret = with_webhook(world.acme, receiver.url, daily_digest=True)
    spend(world.acme, "2", at=midnight() - timedelta(hours=2))
    with django_capture_on_commit_callbacks(execute=True):
        send_digests()
        send_digests()
    assert receiver.verified(secret) == [True]
    payload = json.loads(receiver.requests[0].body)
    assert payload["type"] == "spend.digest"
    assert payload["spent"] == "2.000000" and payload["calls"] == 1
    assert payload["top_models"] == [{"model": "gpt-4o", "spent": "2.000000"}]


@pytest.fixture
def floor(settings):
    settings.BUDGET_SPIKE_MIN_SPEND = 1.0


def steady_day(organization, per_hour: str) -> None:
    now = datetime.now(UTC)
    for hours in range(1, 25):
        spend(organization, per_hour, at=now - timedelta(hours=hours, minutes=5))


def test_a_spike_is_alerted_once_an_hour(world, floor):
    steady_day(world.acme, "0.20")  # average 0.20 USD per hour
    spend(world.acme, "1.50", at=datetime.now(UTC) - timedelta(minutes=10))
    for _ in range(4):
        check_alerts()
    assert len(mail.outbox) == 1
    assert "unusual spend in the last hour" in mail.outbox[0].subject
    assert "1.5000 USD in the last hour" in mail.outbox[0].body
    (alert,) = AlertSent.objects.filter(kind="spike")
    assert alert.organization == world.acme
    assert (alert.period_start.minute, alert.period_start.second) == (0, 0)


def test_spend_within_the_factor_is_no_spike(world, floor):
    steady_day(world.acme, "0.50")
    spend(world.acme, "2.40", at=datetime.now(UTC) - timedelta(minutes=10))  # 4.8x
    check_alerts()
    assert mail.outbox == []
    spend(world.acme, "0.20", at=datetime.now(UTC) - timedelta(minutes=5))  # 5.2x
    check_alerts()
    assert len(mail.outbox) == 1


def test_spend_below_the_floor_is_no_spike(world, floor):
    spend(world.acme, "0.90", at=datetime.now(UTC) - timedelta(minutes=10))
    check_alerts()
    assert mail.outbox == []
    spend(world.acme, "0.20", at=datetime.now(UTC) - timedelta(minutes=5))
    check_alerts()
    assert len(mail.outbox) == 1  # from nothing to 1.10 USD an hour: a spike


def test_spike_alerts_can_be_turned_off_and_the_factor_changed(world, floor):
    AlertSettings.objects.create(organization=world.acme, spike_alerts=False)
    spend(world.acme, "5", at=datetime.now(UTC) - timedelta(minutes=10))
    check_alerts()
    assert mail.outbox == []
    AlertSettings.objects.filter(organization=world.acme).update(
        spike_alerts=True, spike_factor=Decimal("30")
    )
    steady_day(world.acme, "0.20")
    check_alerts()  # 25x the average: under 30
    assert mail.outbox == []


def test_the_next_hour_may_alert_again(world, floor):
    now = datetime.now(UTC).replace(minute=30)
    spend(world.acme, "3", at=now - timedelta(minutes=10))
    assert spikes.check_spike(world.acme.pk, now) is True
    assert spikes.check_spike(world.acme.pk, now + timedelta(minutes=20)) is False
    later = now + timedelta(hours=1)
    spend(world.acme, "90", at=later - timedelta(minutes=10))
    assert spikes.check_spike(world.acme.pk, later) is True
    assert AlertSent.objects.filter(kind="spike").count() == 2
