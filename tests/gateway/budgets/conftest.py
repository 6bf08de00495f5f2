"""Fixtures of the alert tests: usage to spend, and a webhook receiver on loopback.

``Receiver`` is an aiohttp app on 127.0.0.1 answering the statuses it is
scripted with (then 200), keeping every request's time, headers and raw body,
so a test checks the signature over exactly the bytes that arrived.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest
from aiohttp import web

from accounts.models import Organization
from gateway.budgets import webhooks
from gateway.models import AlertSettings, UsageRecord
from tests.fakes.server import serve


@pytest.fixture(autouse=True)
def _no_spikes_unless_asked(settings: Any) -> None:
    """A new organization's first spend above the floor is a spike (by design):
    tests of other alerts raise the floor out of reach; spike tests lower it."""
    settings.BUDGET_SPIKE_MIN_SPEND = 10**6


def spend(
    organization: Organization, cost: str, at: datetime | None = None, **fields: Any
) -> UsageRecord:
    """One recorded call costing ``cost`` USD."""
    extra = {"created_at": at} if at else {}
    return UsageRecord.objects.create(
        organization=organization,
        endpoint="chat",
        model_name=fields.pop("model_name", "gpt-4o"),
        status_code=200,
        cost=Decimal(cost),
        **extra,
        **fields,
    )


@dataclass
class Received:
    at: float
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    url: str
    script: list[int] = field(default_factory=list)
    requests: list[Received] = field(default_factory=list)

    def verified(self, secret: str) -> list[bool]:
        return [
            webhooks.verify(
                secret, r.body, r.headers.get(webhooks.SIGNATURE_HEADER.lower(), "")
            )
            for r in self.requests
        ]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver(url="")

    async def hook(request: web.Request) -> web.Response:
        body = await request.read()
        headers = {k.lower(): v for k, v in request.headers.items()}
        state.requests.append(Received(time.monotonic(), headers, body))
        status = state.script.pop(0) if state.script else 200
        return web.json_response({"ok": status < 300}, status=status)

    app = web.Application()
    app.router.add_post("/hook", hook)
    with serve(app) as server:
        state.url = f"{server.url}/hook"
        yield state


def with_webhook(organization: Organization, url: str, **fields: Any) -> str:
    """Save the organization's webhook (as the admin does); its new secret."""
    config = AlertSettings(organization=organization, webhook_url=url, **fields)
    secret = webhooks.ensure_secret(config)
    assert secret
    config.save()
    return secret
