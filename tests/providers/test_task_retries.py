"""Celery tasks retry transient driver errors by declaration, and nothing else.

A fake vendor on loopback answers every model listing with a fixed status and
counts the calls; tasks run eagerly, so each declared retry is one more call.
"""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web

from models_catalog.tasks import discover_models
from providers.drivers.errors import TransientDriverError
from providers.models import Provider
from providers.tasks import check_provider_health
from tests.fakes.server import serve


def listing_app(status: int) -> tuple[web.Application, list[str]]:
    app, calls = web.Application(), []

    async def models(request: web.Request) -> web.Response:
        calls.append(request.path)
        return web.json_response({"error": {"message": "nope"}}, status=status)

    app.router.add_get("/v1/models", models)
    return app, calls


def provider_at(url: str, world: Any) -> Provider:
    provider = Provider(
        organization=world.acme,
        name="flaky",
        provider_type="openai_compatible",
        endpoint=url + "/v1",
        auth_method="bearer",
    )
    provider.seal("credentials", {"api_key": "sk-flaky-123456"})
    provider.save()
    return provider


@pytest.mark.parametrize("task", [check_provider_health, discover_models])
def test_a_transient_failure_is_retried_as_declared(task: Any, world: Any) -> None:
    app, calls = listing_app(503)
    with serve(app) as server:
        provider = provider_at(server.url, world)
        outcome = task.apply(args=(provider.pk,))
    assert task.autoretry_for == (TransientDriverError,)
    assert len(calls) == 1 + task.max_retries
    assert isinstance(outcome.result, TransientDriverError)
    assert "sk-flaky-123456" not in str(outcome.result)


@pytest.mark.parametrize("task", [check_provider_health, discover_models])
def test_a_permanent_failure_is_not_retried(task: Any, world: Any) -> None:
    app, calls = listing_app(401)
    with serve(app) as server:
        provider = provider_at(server.url, world)
        task.apply(args=(provider.pk,))
    assert len(calls) == 1
