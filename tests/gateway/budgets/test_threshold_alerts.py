"""Budget threshold alerts: each once per budget, period and threshold.

The periodic task runs every minute on every worker it lands on; these tests
run it again and again, and concurrently, and count the emails the admins get.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.db import connection, connections

from gateway.budgets import alerts
from gateway.budgets.tasks import check_alerts, check_organization_alerts
from gateway.models import AlertSent, AlertSettings, Budget
from tests.gateway.budgets.conftest import spend


def budget(organization, amount="10", **fields) -> Budget:
    return Budget.objects.create(
        organization=organization,
        scope="organization",
        amount=Decimal(amount),
        **fields,
    )


def sent(b: Budget) -> list[int]:
    return sorted(
        AlertSent.objects.filter(budget=b, kind="threshold").values_list(
            "threshold", flat=True
        )
    )


def test_each_threshold_alerts_once_however_often_the_task_runs(world):
    b = budget(world.acme)
    spend(world.acme, "6")
    for _ in range(5):
        check_alerts()
    assert sent(b) == [50]
    assert len(mail.outbox) == 1
    assert "reached 50% of its budget" in mail.outbox[0].subject
    assert "6.0000 USD of 10.0000 USD (60.0%)" in mail.outbox[0].body

    spend(world.acme, "3")
    for _ in range(3):
        check_organization_alerts(world.acme.pk)
    assert sent(b) == [50, 80]
    spend(world.acme, "2")
    for _ in range(3):
        check_alerts()
    assert sent(b) == [50, 80, 100]
    assert [m.subject.split("reached ")[1] for m in mail.outbox] == [
        "50% of its budget",
        "80% of its budget",
        "100% of its budget",
    ]


def test_only_the_organizations_admins_with_an_email_are_told(world):
    budget(world.acme)
    world.bob.email = "bob@example.test"  # a member: never an alert recipient
    world.bob.save()
    spend(world.acme, "5")
    check_alerts()
    assert [m.to for m in mail.outbox] == [["alice@example.test"]]
    assert "charlie" not in str(mail.outbox[0].message())


def test_a_jump_past_several_thresholds_sends_one_message_naming_the_highest(world):
    b = budget(world.acme)
    spend(world.acme, "12")
    check_alerts()
    check_alerts()
    assert sent(b) == [50, 80, 100]
    assert len(mail.outbox) == 1
    assert "reached 100% of its budget" in mail.outbox[0].subject
    lower = AlertSent.objects.filter(budget=b, threshold__in=[50, 80])
    assert set(lower.values_list("webhook_status", flat=True)) == {"superseded by 100%"}


def test_the_next_period_alerts_again(world):
    b = budget(world.acme, period="day", alert_thresholds=[50])
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    day1, day2 = today - timedelta(days=2), today - timedelta(days=1)
    spend(world.acme, "7", at=day1 + timedelta(hours=10))
    assert alerts.check_budget(b.pk, now=day1 + timedelta(hours=12)) == 50
    assert alerts.check_budget(b.pk, now=day1 + timedelta(hours=13)) is None
    # The next day starts from zero: nothing until its own spend crosses.
    assert alerts.check_budget(b.pk, now=day2 + timedelta(hours=9)) is None
    spend(world.acme, "5", at=day2 + timedelta(hours=10))
    assert alerts.check_budget(b.pk, now=day2 + timedelta(hours=12)) == 50
    starts = AlertSent.objects.filter(budget=b).values_list("period_start", flat=True)
    assert sorted(starts) == [day1, day2]
    assert len(mail.outbox) == 2


def test_budgets_are_alerted_each_on_its_own_spend(world):
    org = budget(world.acme, amount="100")
    bobs = Budget.objects.create(
        organization=world.acme, scope="user", user=world.bob, amount=Decimal("4")
    )
    spend(world.acme, "3", user=world.bob)
    spend(world.acme, "1")
    check_alerts()
    assert sent(org) == []
    assert sent(bobs) == [50]
    assert "user bob" in mail.outbox[0].subject


def test_no_alert_for_an_inactive_budget_or_without_thresholds(world):
    off = budget(world.acme, is_active=False)
    silent = budget(world.acme, alert_thresholds=[])
    spend(world.acme, "20")
    check_alerts()
    assert sent(off) == sent(silent) == []
    assert mail.outbox == []


def test_admins_who_turned_email_off_get_none_but_the_alert_is_recorded(world):
    b = budget(world.acme)
    AlertSettings.objects.create(organization=world.acme, email_admins=False)
    spend(world.acme, "6")
    check_alerts()
    assert sent(b) == [50]
    assert mail.outbox == []


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="row locks need PostgreSQL"
)
def test_concurrent_runs_send_one_alert(transactional_db, world):
    b = budget(world.acme)
    spend(world.acme, "9")
    start = threading.Barrier(8)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            start.wait()
            for _ in range(3):
                check_organization_alerts(world.acme.pk)
        except BaseException as exc:  # reported below, with the others
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert sent(b) == [50, 80]
    assert len(mail.outbox) == 1
    assert "reached 80%" in mail.outbox[0].subject


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="row locks need PostgreSQL"
)
def test_the_claim_alone_holds_when_runs_skip_the_lock(transactional_db, world):
    """Even without the row lock, the unique constraint lets one claim win."""
    b = budget(world.acme, alert_thresholds=[50])
    spend(world.acme, "6")
    state = alerts.status(b)
    start = threading.Barrier(8)
    won: list[bool] = []

    def claim() -> None:
        try:
            start.wait()
            won.append(alerts.claim(b, state, 50) is not None)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(won) == [False] * 7 + [True]


@pytest.mark.parametrize(
    ("thresholds", "spent", "amount", "expected"),
    [
        ([50, 80, 100], "4.9999", "10", []),  # 50.0 % on the page, not yet 50
        ([50, 80, 100], "5", "10", [50]),
        ([100, 50, 80, 50], "12", "10", [50, 80, 100]),
        ([150], "14.99", "10", []),
        ([50], "0", "0", []),
        ([50, 100], "0.01", "0", [50, 100]),  # a zero limit: any spend is all
    ],
)
def test_thresholds_are_crossed_exactly(thresholds, spent, amount, expected):
    assert alerts.crossed(thresholds, Decimal(spent), Decimal(amount)) == expected
