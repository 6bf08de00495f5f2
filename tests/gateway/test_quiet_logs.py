"""Quiet, truthful logs: a client's mistake is one line, vendor trouble one
WARNING line, and only our own bugs (5xx) carry a traceback.

The admin and site cases read what the configured console handler
(``settings.LOGGING``) really writes; the gateway case runs a real call
through the live gateway to a real fake vendor answering 500.
"""

from __future__ import annotations

import io
import logging

import httpx
import pytest
from django.test import Client

from gateway.models import ApiKey, UsageRecord
from tests.conftest import World
from tests.factories import UserFactory
from tests.gateway import upstreams


@pytest.mark.django_db
def test_answered_404_403_and_400_are_one_line_without_a_traceback(
    world: World, console: io.StringIO
) -> None:
    private = UsageRecord.objects.create(
        organization=world.globex, endpoint="chat", model_name="m", status_code=200
    )
    alice = Client()
    alice.force_login(world.alice)
    # Another tenant's record: the admin's Http404 (logged with its exception).
    url = f"/admin/gateway/usagerecord/{private.pk}/change/"
    assert alice.get(url).status_code == 404
    assert Client().get("/no-such-page/").status_code == 404
    # Staff of no organization: the admin's PermissionDenied.
    lost = UserFactory(username="lost", is_staff=True)
    lost_client = Client()
    lost_client.force_login(lost)
    assert lost_client.get("/admin/gateway/usagerecord/").status_code == 403
    # A foreign Host header: SuspiciousOperation, answered 400.
    assert Client().get("/", HTTP_HOST="evil.example").status_code == 400

    printed = console.getvalue()
    assert f"Not Found: {url}" in printed
    assert "Not Found: /no-such-page/" in printed
    assert "Forbidden (Permission denied): /admin/gateway/usagerecord/" in printed
    assert "Invalid HTTP_HOST header: 'evil.example'" in printed
    assert "Traceback" not in printed
    django_lines = [line for line in printed.splitlines() if " django." in line]
    assert len(django_lines) == 4, printed


@pytest.mark.django_db
def test_a_bug_of_ours_keeps_its_traceback(console: io.StringIO) -> None:
    try:
        raise RuntimeError("our own bug")
    except RuntimeError:
        logging.getLogger("django.request").error(
            "Internal Server Error: /x", exc_info=True, extra={"status_code": 500}
        )
    printed = console.getvalue()
    assert "Internal Server Error: /x" in printed
    assert "Traceback" in printed and "RuntimeError: our own bug" in printed


def test_vendor_trouble_on_the_gateway_is_one_warning_line(
    gateway: object, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    with upstreams.start("openai") as fake:
        upstreams.register(fake, world.acme, name="flaky")
        _, secret = ApiKey.issue(organization=world.acme, user=None, name="k")
        caplog.set_level(logging.INFO)
        caplog.clear()
        answer = httpx.post(
            f"{gateway.v1}/chat/completions",  # type: ignore[attr-defined]
            json={
                "model": "gpt-4o-mini",
                "messages": [{"role": "user", "content": "FAIL 500"}],
            },
            headers={"Authorization": f"Bearer {secret}"},
            timeout=30,
        )
    assert answer.status_code == 502
    ours = [r for r in caplog.records if r.name.startswith(("gateway", "providers"))]
    assert [(r.name, r.levelno) for r in ours] == [("gateway.call", logging.WARNING)]
    (line,) = ours
    assert line.exc_info is None
    text = line.getMessage()
    assert "\n" not in text
    assert text.startswith("upstream flaky/gpt-4o-mini failed: 502")
    assert secret not in text
    # No ERROR anywhere for it: it is the vendor's trouble, not a bug (Django's
    # own "Bad Gateway" line is a WARNING, without a traceback).
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    relayed = [r for r in caplog.records if r.name == "django.request"]
    assert [(r.levelno, r.exc_info) for r in relayed] == [(logging.WARNING, None)]


@pytest.mark.django_db
def test_a_vendor_refusing_the_callers_request_logs_nothing_of_ours(
    gateway: object, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    with upstreams.start("openai") as fake:
        upstreams.register(fake, world.acme, name="strict")
        _, secret = ApiKey.issue(organization=world.acme, user=None, name="k")
        caplog.set_level(logging.INFO)
        caplog.clear()
        answer = httpx.post(
            f"{gateway.v1}/chat/completions",  # type: ignore[attr-defined]
            json={
                "model": "gpt-4o-mini",
                "messages": [{"role": "user", "content": "FAIL 400"}],
            },
            headers={"Authorization": f"Bearer {secret}"},
            timeout=30,
        )
    assert answer.status_code == 400
    assert [r for r in caplog.records if r.name.startswith("gateway")] == []
