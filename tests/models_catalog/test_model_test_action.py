"""The model admin's "Test": one tiny request through the gateway to a fake vendor."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client

from gateway import limits, state, usage
from gateway.model_test import test_model as run_model_test
from gateway.models import UsageRecord
from models_catalog.models import AIModel
from tests.conftest import World
from tests.gateway import upstreams
from tests.models_catalog.test_admin import MODELS_URL, login

# The usage writer's thread inserts on its own connection: it must see the rows.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _fresh_gateway() -> Iterator[None]:
    """Routes, limit counters and queued usage of earlier tests are forgotten."""
    state.reset_for_tests()
    limits.reset_for_tests()
    usage.discard_queued()
    yield
    state.reset_for_tests()
    usage.discard_queued()


@pytest.fixture
def upstream() -> Iterator[upstreams.Upstream]:
    with upstreams.start("openai") as up:
        yield up


@pytest.fixture
def chat_model(world: World, upstream: upstreams.Upstream) -> AIModel:
    provider = upstreams.register(upstream, world.acme, name="acme-openai")
    return provider.models.get(model_id="gpt-4o-mini")


def url_of(model: AIModel) -> str:
    return f"{MODELS_URL}{model.pk}/test/"


def messages_of(response: Any) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def chat_requests(upstream: upstreams.Upstream) -> list[dict[str, Any]]:
    return [r for r in upstream.requests if r["path"].endswith("/chat/completions")]


def test_testing_a_model_shows_the_answer_and_records_an_admin_test(
    world: World, chat_model: AIModel, upstream: upstreams.Upstream
) -> None:
    client = login(world.alice)
    change = client.get(f"{MODELS_URL}{chat_model.pk}/change/").content.decode()
    assert f'action="{url_of(chat_model)}"' in change  # the Test button

    response = client.post(url_of(chat_model), follow=True)
    assert response.redirect_chain[-1][0] == f"{MODELS_URL}{chat_model.pk}/change/"
    [shown] = messages_of(response)
    assert shown.startswith(
        "Test of acme-openai/gpt-4o-mini: “Hello from openai: Say OK”"
    )
    assert " ms (11 tokens in, 7 out)" in shown
    [sent] = chat_requests(upstream)
    assert sent["json"]["messages"] == [{"role": "user", "content": "Say OK"}]

    usage.flush()
    record = UsageRecord.objects.get()
    assert record.source == "admin_test"
    assert (record.organization, record.user, record.model) == (
        world.acme,
        world.alice,
        chat_model,
    )
    assert (record.status_code, record.api_key) == (200, None)
    assert record.cost > 0


def test_an_embedding_model_is_tested_with_an_embedding(
    world: World, chat_model: AIModel
) -> None:
    embedder = chat_model.provider.models.get(model_type="embedding")
    response = login(world.alice).post(url_of(embedder), follow=True)
    [shown] = messages_of(response)
    assert "“an embedding of " in shown and " dimensions”" in shown


def test_a_rerank_model_is_tested_with_a_ranking(world: World) -> None:
    from tests.fakes import rerank as fake
    from tests.fakes.server import serve
    from tests.gateway.test_rerank import compat_provider, rerank_model

    with serve(fake.make_app("jina")) as server:
        provider = compat_provider(world.acme, server.url)
        reranker = rerank_model(provider, fake.MODEL)
        response = login(world.alice).post(url_of(reranker), follow=True)
    [shown] = messages_of(response)
    assert "“ranked 2 documents; the best: 'Paris is the capital of France.'" in shown
    usage.flush()
    record = UsageRecord.objects.get()
    assert (record.endpoint, record.source) == ("rerank", "admin_test")


def test_a_failure_is_shown_scrubbed(
    world: World, chat_model: AIModel, upstream: upstreams.Upstream
) -> None:
    provider = chat_model.provider
    wrong = "sk-wrong-SECRET-value-123"
    provider.seal("credentials", {"api_key": wrong})
    provider.save()
    response = login(world.alice).post(url_of(chat_model), follow=True)
    [shown] = messages_of(response)
    assert shown.startswith("Test of acme-openai/gpt-4o-mini failed after ")
    assert "(HTTP 502): OpenAI refused the provider's credentials" in shown
    assert wrong not in response.content.decode()
    assert "SECRET" not in shown
    assert "Traceback" not in response.content.decode()


def test_an_inactive_model_is_not_sent(
    world: World, chat_model: AIModel, upstream: upstreams.Upstream
) -> None:
    chat_model.status = "inactive"
    chat_model.save()
    response = login(world.alice).post(url_of(chat_model), follow=True)
    assert messages_of(response) == [
        "Test of acme-openai/gpt-4o-mini failed: The model is inactive: activate "
        "it first (the gateway serves only active models)."
    ]
    assert chat_requests(upstream) == []


def test_only_the_models_admin_may_test_it_and_only_by_post(
    world: World, chat_model: AIModel, upstream: upstreams.Upstream
) -> None:
    assert login(world.alice).get(url_of(chat_model)).status_code == 405
    assert login(world.charlie).post(url_of(chat_model)).status_code == 404
    missing = f"{MODELS_URL}999999/test/"
    assert login(world.charlie).post(missing).status_code == 404
    # Bob is acme's member, not its admin: no admin at all.
    assert login(world.bob).post(url_of(chat_model)).status_code == 302
    # Without the CSRF token the admin refuses it.
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(world.alice)
    assert strict.post(url_of(chat_model)).status_code == 403
    assert chat_requests(upstream) == []
    usage.flush()
    assert not UsageRecord.objects.exists()


def test_the_list_action_tests_exactly_one_model(
    world: World, chat_model: AIModel, upstream: upstreams.Upstream
) -> None:
    client = login(world.alice)
    both = chat_model.provider.models.all()
    response = client.post(
        MODELS_URL,
        {"action": "test_selected_model", "_selected_action": [m.pk for m in both]},
        follow=True,
    )
    assert messages_of(response) == ["Select exactly one model to test."]
    response = client.post(
        MODELS_URL,
        {"action": "test_selected_model", "_selected_action": [chat_model.pk]},
        follow=True,
    )
    [shown] = messages_of(response)
    assert "“Hello from openai: Say OK”" in shown
    assert len(chat_requests(upstream)) == 1


def test_test_calls_only_the_tested_model(
    world: World, chat_model: AIModel, upstream: upstreams.Upstream
) -> None:
    """Review finding 2: no name collision, no failover, its own provider only.

    acme's provider ``openai`` has ``gpt-4o-mini``; acme's ``openrouter`` has
    the model ``openai/gpt-4o-mini`` (OpenRouter's ids are ``vendor/model``),
    which is also the tested model's pinned name, and answers fine.
    """
    from providers.models import Provider
    from tests.fakes import openai as fake
    from tests.fakes.server import serve

    openai = chat_model.provider
    openai.name = "openai"
    openai.health = Provider.Health.UNAVAILABLE  # sorts after openrouter
    openai.seal("credentials", {"api_key": "sk-revoked"})
    openai.save()
    with serve(fake.make_app(models=["openai/gpt-4o-mini"])) as other:
        router = Provider(
            organization=world.acme,
            name="openrouter",
            provider_type="openai",
            endpoint=other.url + "/v1",
            auth_method="bearer",
        )
        router.seal("credentials", {"api_key": "sk-test-key"})
        router.save()
        AIModel.objects.create(
            provider=router, organization=world.acme, model_id="openai/gpt-4o-mini"
        )

        refused = run_model_test(chat_model, world.alice)
        assert refused.ok is False
        assert "refused the provider's credentials" in refused.error
        assert other.app["requests"] == []

        # A healthy provider's transient failure is not failed over either.
        openai.health = Provider.Health.AVAILABLE
        openai.endpoint = "http://127.0.0.1:9/v1"  # nothing listens there
        openai.seal("credentials", {"api_key": "sk-test-key"})
        openai.save()
        state.reset_for_tests()
        unreachable = run_model_test(chat_model, world.alice)
        assert unreachable.ok is False
        assert other.app["requests"] == []

    usage.flush()
    tested = UsageRecord.objects.filter(source="admin_test")
    assert {r.provider_id for r in tested} == {openai.pk}
