"""End to end on a real Celery worker: a crossed threshold reaches the webhook,
signed, after retries spaced by a doubling backoff, and the worker's log holds
no secret.

The worker gets ``BUDGET_WEBHOOK_RETRY_BACKOFF=1``: attempts at 0, 1 and 3 s.
"""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.conf import settings
from django.db import connection

from gateway.budgets.tasks import check_organization_alerts
from gateway.models import AlertSent, Budget
from tests.gateway.budgets.conftest import spend, with_webhook
from tests.test_worker_e2e import _worker, wait_for

pytestmark = pytest.mark.skipif(
    not (settings.REDIS_URL and connection.vendor == "postgresql"),
    reason="needs PostgreSQL and Redis (set DATABASE_URL and REDIS_URL), as CI does",
)


@pytest.fixture
def worker_log(transactional_db, tmp_path, monkeypatch):
    monkeypatch.setenv("BUDGET_WEBHOOK_RETRY_BACKOFF", "1")
    monkeypatch.setenv("BUDGET_SPIKE_MIN_SPEND", "1000000")
    path = tmp_path / "worker.log"
    with path.open("wb") as sink:
        for process in _worker(sink, "DEBUG"):
            yield process, path


def test_a_threshold_reaches_the_webhook_signed_after_backoff(
    worker_log, world, receiver
):
    process, log = worker_log
    secret = with_webhook(world.acme, receiver.url)
    budget = Budget.objects.create(
        organization=world.acme, scope="organization", amount=Decimal("10")
    )
    spend(world.acme, "5.5")
    receiver.script = [500, 502]
    check_organization_alerts.delay(world.acme.pk)
    check_organization_alerts.delay(world.acme.pk)  # a second run sends nothing
    wait_for(
        lambda: AlertSent.objects.filter(
            budget=budget, webhook_status="attempt 3: HTTP 200"
        ).exists()
    )
    assert len(receiver.requests) == 3
    assert receiver.verified(secret) == [True, True, True]
    assert {json.loads(r.body)["threshold"] for r in receiver.requests} == {50}
    first, second, third = (r.at for r in receiver.requests)
    assert 0.9 <= second - first < 1.9 + 1  # the first retry: 1 s
    assert third - second >= 1.9  # the next: doubled
    assert AlertSent.objects.filter(budget=budget).count() == 1
    process.terminate()
    process.wait(20)
    text = log.read_bytes()
    # The email (the worker's console backend): one, for two runs.
    assert text.count(b"has reached 50% of its limit") == 1
    assert secret.encode() not in text
