"""Alert webhooks: signed, retried on 5xx, refused towards private addresses.

The receiver is on loopback (private addresses are allowed for these tests,
as for the fake vendors) except where the guard is the point: there
``PROVIDERS_ALLOW_PRIVATE_IPS`` is off and the listener must see no
connection at all.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from decimal import Decimal

import pytest
from django.core import mail

from gateway.budgets import webhooks
from gateway.budgets.alert_forms import AlertSettingsForm
from gateway.budgets.tasks import check_organization_alerts, deliver_webhook
from gateway.models import AlertSent, AlertSettings, Budget
from tests.fakes.net import counting, fake_dns
from tests.gateway.budgets.conftest import spend, with_webhook


def org_budget(world) -> Budget:
    return Budget.objects.create(
        organization=world.acme, scope="organization", amount=Decimal("10")
    )


def test_the_signature_is_stripes_scheme():
    body = b'{"a":1}'
    header = webhooks.signature("whsec_test", body, 1700000000)
    expected = hmac.new(
        b"whsec_test", b"1700000000." + body, hashlib.sha256
    ).hexdigest()
    assert header == f"t=1700000000,v1={expected}"
    now = int(time.time())
    assert webhooks.verify(
        "whsec_test", body, webhooks.signature("whsec_test", body, now)
    )
    assert not webhooks.verify(
        "whsec_other", body, webhooks.signature("whsec_test", body, now)
    )
    assert not webhooks.verify(
        "whsec_test", body + b" ", webhooks.signature("whsec_test", body, now)
    )
    old = webhooks.signature("whsec_test", body, now - 3600)
    assert not webhooks.verify("whsec_test", body, old)  # a replay


def test_the_webhook_is_signed_and_retried_until_it_answers(
    world, receiver, django_capture_on_commit_callbacks, caplog
):
    caplog.set_level(logging.DEBUG)
    secret = with_webhook(world.acme, receiver.url)
    b = org_budget(world)
    spend(world.acme, "8.5")
    receiver.script = [500, 503]
    with django_capture_on_commit_callbacks(execute=True):
        check_organization_alerts(world.acme.pk)
    assert len(receiver.requests) == 3
    assert receiver.verified(secret) == [True, True, True]
    payload = json.loads(receiver.requests[-1].body)
    alert = AlertSent.objects.get(budget=b, threshold=80)
    assert payload == {
        "type": "budget.threshold",
        "organization": "acme",
        "budget": {
            "id": b.pk,
            "scope": "organization",
            "target": "organization Acme Corp",
            "amount": "10.0000",
            "period": "month",
        },
        "threshold": 80,
        "spent": "8.500000",
        "percent": "85.0",
        "period_start": alert.period_start.isoformat(),
        "sent_at": alert.sent_at.isoformat(),
    }
    assert receiver.requests[0].headers["x-modelgate-event"] == "budget.threshold"
    assert alert.webhook_status == "attempt 3: HTTP 200"
    assert len(mail.outbox) == 1  # the email goes once, whatever the webhook does
    assert "retrying: HTTP 500" in caplog.text  # the attempts were logged...
    assert secret not in caplog.text  # ...without the secret
    for request in receiver.requests:
        assert secret.encode() not in request.body
        assert secret not in json.dumps(request.headers)


def test_a_permanent_refusal_is_not_retried(
    world, receiver, django_capture_on_commit_callbacks
):
    with_webhook(world.acme, receiver.url)
    b = org_budget(world)
    spend(world.acme, "5")
    receiver.script = [410]
    with django_capture_on_commit_callbacks(execute=True):
        check_organization_alerts(world.acme.pk)
    assert len(receiver.requests) == 1
    assert AlertSent.objects.get(budget=b).webhook_status == "attempt 1: HTTP 410"


def test_retries_stop_after_the_maximum(
    world, receiver, settings, django_capture_on_commit_callbacks
):
    with_webhook(world.acme, receiver.url)
    b = org_budget(world)
    spend(world.acme, "5")
    receiver.script = [500] * 20
    with django_capture_on_commit_callbacks(execute=True):
        check_organization_alerts(world.acme.pk)
    tries = settings.BUDGET_WEBHOOK_MAX_RETRIES + 1
    assert len(receiver.requests) == tries
    assert AlertSent.objects.get(budget=b).webhook_status == (
        f"attempt {tries}: HTTP 500"
    )


def test_the_task_result_and_arguments_hold_no_secret(world, receiver):
    secret = with_webhook(world.acme, receiver.url)
    b = org_budget(world)
    alert = AlertSent.objects.create(
        organization=world.acme,
        kind="threshold",
        budget=b,
        subject=str(b.pk),
        period_start=b.current_period()[0],
        threshold=50,
    )
    result = deliver_webhook.apply(args=(alert.pk, {"type": "budget.threshold"}))
    assert result.get() == "attempt 1: HTTP 200"
    assert secret not in repr(result.result) and secret not in repr(result.args)
    assert receiver.verified(secret) == [True]


PRIVATE_URLS = [
    "http://127.0.0.1:{port}/hook",
    "http://[::1]:{port}/hook",
    "http://localhost:{port}/hook",
    "http://intranet.test:{port}/hook",
    "http://169.254.169.254/latest/meta-data/",
]


@pytest.mark.parametrize("template", PRIVATE_URLS)
def test_a_private_webhook_url_is_refused_at_save(
    world, settings, monkeypatch, template
):
    settings.PROVIDERS_ALLOW_PRIVATE_IPS = False
    fake_dns(monkeypatch, {"intranet.test": ["127.0.0.1"]})
    with counting() as counter:
        url = template.format(port=counter.port)
        form = AlertSettingsForm(
            {"organization": world.acme.pk, "webhook_url": url, "spike_factor": "5"}
        )
        assert not form.is_valid()
        assert "Outbound connection refused" in form.errors["webhook_url"][0]
        if "169.254" not in url:  # the setting would not help a metadata address
            assert "PROVIDERS_ALLOW_PRIVATE_IPS" in form.errors["webhook_url"][0]
    assert counter.connections == 0


def test_an_allowed_webhook_url_saves(world, settings):
    settings.PROVIDERS_ALLOW_PRIVATE_IPS = True
    form = AlertSettingsForm(
        {
            "organization": world.acme.pk,
            "webhook_url": "http://127.0.0.1:9/hook",
            "spike_factor": "5",
        }
    )
    assert form.is_valid(), form.errors
    for bad in ("ftp://127.0.0.1/x", "http://user:pw@127.0.0.1/x"):
        form = AlertSettingsForm(
            {"organization": world.acme.pk, "webhook_url": bad, "spike_factor": "5"}
        )
        assert not form.is_valid()


@pytest.mark.parametrize("host", ["127.0.0.1", "intranet.test", "localhost"])
def test_a_delivery_to_a_private_address_is_refused_without_connecting(
    world, settings, monkeypatch, host
):
    """A name may resolve elsewhere after the save: delivery checks again."""
    fake_dns(monkeypatch, {"intranet.test": ["127.0.0.1"]})
    b = org_budget(world)
    with counting(("127.0.0.1",)) as counter:
        with_webhook(world.acme, f"http://{host}:{counter.port}/hook")
        settings.PROVIDERS_ALLOW_PRIVATE_IPS = False
        alert = AlertSent.objects.create(
            organization=world.acme,
            kind="threshold",
            budget=b,
            subject=str(b.pk),
            period_start=b.current_period()[0],
            threshold=50,
        )
        outcome = deliver_webhook.apply(args=(alert.pk, {"type": "x"})).get()
    assert counter.connections == 0
    assert outcome.startswith("attempt 1: blocked: Outbound connection refused")
    alert.refresh_from_db()
    assert alert.webhook_status.startswith("attempt 1: blocked: Outbound")


def test_no_webhook_without_a_url(world, receiver, django_capture_on_commit_callbacks):
    AlertSettings.objects.create(organization=world.acme)
    org_budget(world)
    spend(world.acme, "5")
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        check_organization_alerts(world.acme.pk)
    assert callbacks == []
    assert receiver.requests == []


def test_a_receiver_that_trickles_its_answer_cannot_hold_the_worker(settings):
    """Headers sent a byte at a time never trip a per-read timeout; the whole
    exchange still ends within ``BUDGET_WEBHOOK_TIMEOUT``."""
    import socket
    import threading

    settings.BUDGET_WEBHOOK_TIMEOUT = 1.0
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    stop = threading.Event()

    def trickle() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)
            for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 100:
                if stop.is_set():
                    return
                try:
                    conn.sendall(bytes([byte]))
                except OSError:
                    return
                time.sleep(0.2)

    thread = threading.Thread(target=trickle, daemon=True)
    thread.start()
    started = time.monotonic()
    try:
        with pytest.raises(webhooks.TransientWebhookError, match="timed out"):
            webhooks.deliver(
                f"http://127.0.0.1:{listener.getsockname()[1]}/hook",
                "whsec_test",
                {"type": "budget.threshold"},
            )
    finally:
        stop.set()
        listener.close()
    assert time.monotonic() - started < 3.0
