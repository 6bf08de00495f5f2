"""Health checks against every vendor's strict fake, and every status transition."""

from __future__ import annotations

import itertools
import threading

import pytest
from django.db import connection

from models_catalog.models import AIModel
from providers.fields import Sealed
from providers.health import CheckResult, check_provider, record
from providers.models import HealthEvent, Provider
from providers.tasks import check_all_providers, check_provider_health
from tests.gateway import upstreams

VENDORS = [
    "openai",
    "groq",
    "cohere",
    "azure",
    "anthropic",
    "bedrock",
    "ollama",
    "gemini",
]
WRONG = {
    "api_key": "wrong-key-123456",
    "secret_access_key": "wrongSecret000000000000000000000000000000",
}


# Ollama's API takes no credentials, so none can be refused.
TAKING_CREDENTIALS = [v for v in VENDORS if v != "ollama"]


@pytest.fixture(params=VENDORS)
def provider(request, world):
    with upstreams.start(request.param) as upstream:
        yield upstreams.register(upstream, world.acme), upstream


@pytest.fixture(params=TAKING_CREDENTIALS)
def provider_taking_credentials(request, world):
    with upstreams.start(request.param) as upstream:
        assert upstream.auth_method != "none"
        yield upstreams.register(upstream, world.acme), upstream


def test_a_working_provider_becomes_available(provider):
    prov, _ = provider
    result = check_provider(prov)
    prov.refresh_from_db()
    assert result.health == prov.health == Provider.Health.AVAILABLE
    assert prov.health_checked_at is not None and prov.health_latency_ms is not None
    event = prov.health_events.get()
    assert (event.from_health, event.to_health) == ("unknown", "available")


def test_refused_credentials_make_it_unavailable_without_leaking(
    provider_taking_credentials,
):
    prov, upstream = provider_taking_credentials
    creds = {k: WRONG.get(k, v) for k, v in upstream.credentials.items()}
    prov.seal("credentials", creds)
    prov.save()
    result = check_provider(prov)
    prov.refresh_from_db()
    assert prov.health == Provider.Health.UNAVAILABLE, result.message
    for secret in creds.values():
        assert secret not in prov.health_message
    assert prov.health_message


def test_an_unreachable_endpoint_is_unavailable(world):
    with upstreams.start("openai") as upstream:
        prov = upstreams.register(upstream, world.acme)
    # the fake has stopped: nothing listens there any more
    result = check_provider(prov)
    assert result.health == Provider.Health.UNAVAILABLE
    assert "unreachable" in result.message


def test_configuration_errors_fail_with_a_reason(world):
    with upstreams.start("bedrock") as upstream:
        prov = upstreams.register(upstream, world.acme)
        prov.seal("credentials", {"access_key_id": "AKID"})  # no secret
        prov.save()
        result = check_provider(prov)
        assert result.health == Provider.Health.FAILED
        assert "secret access key" in result.message

        Provider.objects.filter(pk=prov.pk).update(credentials=Sealed('{"v":1}'))
        prov.refresh_from_db()
        result = check_provider(prov)
        assert result.health == Provider.Health.FAILED
        assert "cannot be decrypted" in result.message


def test_a_private_endpoint_fails_unless_allowed(world, settings):
    with upstreams.start("openai") as upstream:
        prov = upstreams.register(upstream, world.acme)
        settings.PROVIDERS_ALLOW_PRIVATE_IPS = False
        result = check_provider(prov)
    assert result.health == Provider.Health.FAILED
    assert "private address" in result.message


def test_every_transition_is_recorded_once(world):
    with upstreams.start("openai") as upstream:
        prov = upstreams.register(upstream, world.acme)
    chain = ["available", "available", "unavailable", "failed", "available"]
    for health in chain:
        record(prov.pk, CheckResult(health, f"now {health}"))
    events = list(
        HealthEvent.objects.filter(provider=prov)
        .order_by("pk")
        .values_list("from_health", "to_health")
    )
    assert events == [
        ("unknown", "available"),
        ("available", "unavailable"),
        ("unavailable", "failed"),
        ("failed", "available"),
    ]


def test_concurrent_checks_leave_a_consistent_history(transactional_db, world):
    with upstreams.start("openai") as upstream:
        prov = upstreams.register(upstream, world.acme)
    results = ["available", "unavailable"] * 4
    failures: list[BaseException] = []

    def check(health: str) -> None:
        try:
            record(prov.pk, CheckResult(health, health))
        except BaseException as exc:  # a dead worker must fail the test
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=check, args=(h,)) for h in results]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    events = list(
        HealthEvent.objects.filter(provider=prov)
        .order_by("pk")
        .values_list("from_health", "to_health")
    )
    # a chain: every event starts where the previous one ended
    assert events[0][0] == "unknown"
    for before, after in itertools.pairwise(events):
        assert before[1] == after[0]
    prov.refresh_from_db()
    assert prov.health == events[-1][1]


def test_tasks_survive_a_deleted_provider_and_fan_out(world):
    assert check_provider_health.delay(999_999).get() is None
    with upstreams.start("openai") as upstream:
        upstreams.register(upstream, world.acme)
        upstreams.register(upstream, world.acme, name="second")
        inactive = upstreams.register(upstream, world.acme, name="off")
        inactive.status = Provider.Status.INACTIVE
        inactive.save()
        assert check_all_providers.delay().get() == 2
    assert set(Provider.objects.values_list("name", "health")) == {
        ("openai-fake", "available"),
        ("second", "available"),
        ("off", "unknown"),
    }
    assert AIModel.objects.exists()
