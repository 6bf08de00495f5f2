"""Health and discovery follow changes (issue 11 point 3) and log quietly (point 8).

A provider that becomes available without discovered models gets a discovery
queued (by task name, so this app does not import the catalog); the change page
shows a status panel and polls a scoped JSON view after a save; a vendor that is
down and a misconfiguration are one WARNING line each, our own bugs an ERROR
with a traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp import web

from models_catalog.models import AIModel
from providers.models import Provider
from providers.tasks import check_and_follow, check_provider_health
from tests.conftest import World
from tests.fakes.server import serve
from tests.gateway import upstreams
from tests.gateway.upstreams import Upstream
from tests.providers.test_admin import change_url, form_data, login


@pytest.fixture
def openai() -> Iterator[Upstream]:
    with upstreams.start("openai") as upstream:
        yield upstream


def queued(callbacks: list[Any]) -> list[Any]:
    return [c for c in callbacks if c.__module__ == "providers.tasks"]


def bare_provider(
    upstream: Upstream, world: World, name: str = "recovering"
) -> Provider:
    """A provider on the fake with no model yet."""
    provider = Provider(
        organization=world.acme,
        name=name,
        provider_type=upstream.provider_type,
        endpoint=upstream.endpoint,
        auth_method=upstream.auth_method,
    )
    provider.seal("credentials", upstream.credentials)
    provider.seal("provider_config", upstream.config)
    provider.save()
    return provider


def test_a_provider_that_recovers_without_models_gets_them_discovered(
    world: World,
    openai: Upstream,
    settings: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    provider = bare_provider(openai, world)
    settings.PROVIDERS_ALLOW_PRIVATE_IPS = False
    with django_capture_on_commit_callbacks(execute=True):
        assert check_provider_health.apply(args=(provider.pk,)).result == "failed"
    assert not AIModel.objects.filter(provider=provider).exists()
    settings.PROVIDERS_ALLOW_PRIVATE_IPS = True  # the operator allows it
    with django_capture_on_commit_callbacks(execute=True):
        assert check_provider_health.apply(args=(provider.pk,)).result == "available"
    assert AIModel.objects.filter(provider=provider, source="discovered").count() == 4


def test_no_discovery_is_queued_when_models_were_discovered_or_nothing_changed(
    world: World, openai: Upstream, django_capture_on_commit_callbacks: Any
) -> None:
    provider = bare_provider(openai, world)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        check_and_follow(provider)
    assert len(queued(callbacks)) == 1  # discovery, once
    assert AIModel.objects.filter(provider=provider).count() == 4
    Provider.objects.filter(pk=provider.pk).update(health="unavailable")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        check_and_follow(provider)  # available again, models already there
    assert queued(callbacks) == []
    AIModel.objects.filter(provider=provider).delete()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        check_and_follow(provider)  # still available: no change, no discovery
    assert queued(callbacks) == []


def test_the_status_view_is_scoped_and_tells_health_and_model_count(
    world: World, openai: Upstream
) -> None:
    provider = upstreams.register(openai, world.acme, name="watched")
    check_and_follow(provider)
    url = f"/admin/providers/provider/{provider.pk}/status/"
    data = login(world.alice).get(url).json()
    assert data["health"] == "available" and data["label"] == "Available"
    assert data["model_count"] == 2 and data["latency_ms"] is not None
    assert data["message"].startswith("OK in") and data["checked_at"]
    assert "sk-test-key" not in str(data)
    assert login(world.charlie).get(url).status_code == 404
    assert login(world.bob).get(url).status_code in (302, 403, 404)


def test_the_change_page_shows_the_status_panel_first_and_polls_after_a_save(
    world: World, openai: Upstream, django_capture_on_commit_callbacks: Any
) -> None:
    provider = upstreams.register(openai, world.acme, name="panel")
    Provider.objects.filter(pk=provider.pk).update(status="inactive")
    client = login(world.alice)
    page = client.get(change_url(provider)).content.decode()
    panel = page.index('id="provider-status"')
    assert panel < page.index("<fieldset")
    assert "data-queued" not in page  # nothing to wait for
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            change_url(provider),
            form_data(provider, status="active", _continue="Save and continue"),
        )
    assert response.status_code == 302
    page = client.get(change_url(provider)).content.decode()
    assert 'data-queued="' in page
    assert f'data-url="/admin/providers/provider/{provider.pk}/status/"' in page
    status = client.get(f"/admin/providers/provider/{provider.pk}/status/").json()
    queued = page.split('data-queued="', 1)[1].split('"', 1)[0]
    assert status["checked_at"] >= queued  # the check after the save finished
    assert status["model_count"] == 4
    # Shown once: a later visit has nothing to wait for.
    assert "data-queued" not in client.get(change_url(provider)).content.decode()


def failing_app(status: int) -> web.Application:
    app = web.Application()

    async def models(request: web.Request) -> web.Response:
        return web.json_response({"error": {"message": "down"}}, status=status)

    app.router.add_get("/v1/models", models)
    return app


def provider_at(url: str, world: World) -> Provider:
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


def test_a_vendor_that_is_down_is_one_warning_line_per_attempt(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    with serve(failing_app(503)) as server:
        provider = provider_at(server.url, world)
        check_provider_health.apply(args=(provider.pk,))
    ours = [r for r in caplog.records if r.name == "providers.tasks"]
    assert len(ours) == 1 + check_provider_health.max_retries
    for record in ours:
        assert record.levelno == logging.WARNING and record.exc_info is None
        assert "unavailable" in record.getMessage()
        assert "\n" not in record.getMessage()
        assert "sk-flaky-123456" not in record.getMessage()
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert all(r.exc_info is None for r in caplog.records)


def test_a_misconfigured_provider_is_one_warning_line(
    world: World, settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    settings.PROVIDERS_ALLOW_PRIVATE_IPS = False
    provider = provider_at("http://127.0.0.1:9", world)
    assert check_provider_health.apply(args=(provider.pk,)).result == "failed"
    (record,) = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert record.levelno == logging.WARNING and record.exc_info is None
    assert "misconfigured" in record.getMessage()
    assert "PROVIDERS_ALLOW_PRIVATE_IPS" in record.getMessage()


def test_our_own_bug_is_an_error_with_a_traceback(
    world: World, settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    settings.HEALTH_CHECK_TIMEOUT = "not a number"  # a bug, not vendor trouble
    provider = provider_at("http://127.0.0.1:9", world)
    check_provider_health.apply(args=(provider.pk,))
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors and errors[0].exc_info is not None


def test_verified_save_records_recovery_and_queues_discovery(
    world: World, openai: Upstream, django_capture_on_commit_callbacks: Any
) -> None:
    """Review finding 11: what the save's vendor check found is the status shown."""
    provider = bare_provider(openai, world)
    provider.seal("credentials", {"api_key": "sk-revoked-000000"})
    provider.save()
    Provider.objects.filter(pk=provider.pk).update(
        health="failed", health_message="Incorrect API key provided"
    )
    client = login(world.alice)
    data = form_data(provider, api_key="sk-test-key")
    del data["save_without_verifying"]
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(change_url(provider), data)
    assert response.status_code == 302
    # Recorded by the save itself, before anything queued has run.
    provider.refresh_from_db()
    assert provider.health == "available"
    assert provider.health_message.startswith("OK in")
    assert provider.health_events.filter(to_health="available").exists()
    assert [r["path"] for r in openai.requests] == ["/v1/models"]  # one call
    (follow,) = queued(callbacks)
    follow()  # discovery, not a second check
    assert AIModel.objects.filter(provider=provider, source="discovered").count() == 4
    assert [r["path"] for r in openai.requests] == ["/v1/models", "/v1/models"]
    page = client.get(change_url(provider)).content.decode()
    assert 'data-queued="' in page  # the panel waits for the models


def test_a_plain_save_of_a_failed_provider_queues_a_check(
    world: World,
    openai: Upstream,
    settings: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    """Nothing of the connection changed, but its status is stale: check it."""
    provider = bare_provider(openai, world)
    Provider.objects.filter(pk=provider.pk).update(
        health="failed", health_message="needs PROVIDERS_ALLOW_PRIVATE_IPS"
    )
    client = login(world.alice)
    data = form_data(provider)
    del data["save_without_verifying"]
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(change_url(provider), data)
    assert response.status_code == 302
    assert openai.requests == []  # nothing to verify: not called during the save
    (check,) = queued(callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        check()
    provider.refresh_from_db()
    assert provider.health == "available"
    assert AIModel.objects.filter(provider=provider, source="discovered").count() == 4
    # A healthy provider saved unchanged queues nothing.
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert client.post(change_url(provider), data).status_code == 302
    assert queued(callbacks) == []
