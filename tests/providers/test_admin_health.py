"""Health and discovery in the admin: actions, save hooks, verification, history."""

from __future__ import annotations

import pytest

from models_catalog.models import AIModel
from providers.models import HealthEvent, Provider
from tests.gateway import upstreams


@pytest.fixture
def fake(world):
    with upstreams.start("openai") as upstream:
        yield upstream


def login(client, user):
    # django-axes needs the request a password sign-in comes with; these tests
    # are about what a signed-in user sees, not about signing in.
    client.force_login(user)


def add_form(upstream, world, **extra):
    return {
        "organization": world.acme.pk,
        "name": "new-openai",
        "provider_type": "openai",
        "endpoint": upstream.endpoint,
        "auth_method": "bearer",
        "api_key": "sk-test-key",
        "status": "active",
        "priority": 100,
        "timeout_connect": 5,
        "timeout_first_byte": 60,
        "timeout_total": 600,
        **extra,
    }


def test_adding_a_provider_checks_it_and_discovers_its_models(
    client, world, fake, django_capture_on_commit_callbacks
):
    login(client, world.alice)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/admin/providers/provider/add/", add_form(fake, world))
    assert response.status_code == 302, response.content.decode()[:2000]
    provider = Provider.objects.get(name="new-openai")
    assert provider.health == Provider.Health.AVAILABLE
    assert set(provider.models.values_list("model_id", flat=True)) == {
        "gpt-4o-mini",
        "gpt-4o",
        "o3-mini",
        "text-embedding-3-small",
    }
    page = client.get(f"/admin/providers/provider/{provider.pk}/change/").content
    assert b"Health history" in page and b"OK in" in page


def test_saving_without_connection_changes_queues_nothing(
    client, world, fake, django_capture_on_commit_callbacks
):
    provider = upstreams.register(fake, world.acme, name="quiet")
    login(client, world.alice)
    form = add_form(fake, world, name="quiet", api_key="", priority=5)

    def queued(callbacks):
        return [c for c in callbacks if c.__module__ == "providers.tasks"]

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        client.post(f"/admin/providers/provider/{provider.pk}/change/", form)
    provider.refresh_from_db()
    assert provider.priority == 5
    assert queued(callbacks) == []
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        client.post(
            f"/admin/providers/provider/{provider.pk}/change/",
            {**form, "api_key": "sk-new", "save_without_verifying": "on"},
        )
    assert len(queued(callbacks)) == 1  # a health check, discovery after it


def test_verification_refuses_credentials_the_vendor_rejects_by_default(
    client, world, fake
):
    login(client, world.alice)
    response = client.post(
        "/admin/providers/provider/add/",
        add_form(fake, world, api_key="sk-wrong-1234"),
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "The vendor check did not pass" in page and "Incorrect API key" in page
    assert "sk-wrong-1234" not in page
    errors = response.context["adminform"].form.errors
    assert any("Incorrect API key" in e for e in errors["api_key"])
    assert not Provider.objects.filter(name="new-openai").exists()
    response = client.post("/admin/providers/provider/add/", add_form(fake, world))
    assert response.status_code == 302


def test_the_actions_report_health_and_discovery(client, world, fake):
    provider = upstreams.register(fake, world.acme, name="acted")
    login(client, world.alice)
    response = client.post(
        "/admin/providers/provider/",
        {"action": "check_health_now", "index": 0, "_selected_action": [provider.pk]},
        follow=True,
    )
    assert "Acted: available" in response.content.decode()
    assert HealthEvent.objects.filter(provider=provider, to_health="available")
    response = client.post(
        "/admin/providers/provider/",
        {
            "action": "discover_models_now",
            "index": 0,
            "_selected_action": [provider.pk],
        },
        follow=True,
    )
    page = response.content.decode()
    # the two registered models gain the names the vendor reports
    assert "Acted: 2 added, 2 updated, 0 gone" in page
    assert "gpt-4o" in page and "o3-mini" in page
    assert AIModel.objects.filter(provider=provider).count() == 4


def test_the_list_shows_health_badges_and_check_times(client, world, fake):
    provider = upstreams.register(fake, world.acme, name="listed")
    from providers.health import check_provider

    check_provider(provider)
    login(client, world.alice)
    page = client.get("/admin/providers/provider/").content.decode()
    assert "health-badge" in page and "Available" in page
