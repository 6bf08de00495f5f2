"""Model discovery against every vendor's strict fake: repeatable upserts."""

from __future__ import annotations

from decimal import Decimal

import pytest

from models_catalog.discovery import sync_provider_models
from models_catalog.models import AIModel
from models_catalog.tasks import discover_all, discover_models
from providers.drivers.config import ModelInfo
from providers.drivers.errors import DriverError
from tests.gateway import upstreams

# What each fake lists (a chat model and, where the vendor has one, an embedder).
EXPECTED = {
    "openai": ("gpt-4o-mini", "text-embedding-3-small"),
    "groq": ("gpt-4o-mini", "text-embedding-3-small"),
    "azure": ("chat-prod", "embed-small"),
    "anthropic": ("claude-sonnet-4-5-20250929", None),
    "bedrock": (
        "anthropic.claude-3-haiku-20240307-v1:0",
        "amazon.titan-embed-text-v2:0",
    ),
    "ollama": ("llama3.2:latest", "nomic-embed-text:latest"),
    "gemini": ("gemini-2.5-flash", "gemini-embedding-001"),
}


@pytest.fixture(params=list(EXPECTED))
def provider(request, world):
    with upstreams.start(request.param) as upstream:
        prov = upstreams.register(upstream, world.acme)
        AIModel.objects.filter(provider=prov).delete()
        yield prov, request.param


def test_discovery_finds_the_vendors_models_and_is_repeatable(provider):
    prov, vendor = provider
    chat, embed = EXPECTED[vendor]
    first = sync_provider_models(prov)
    models = {m.model_id: m for m in AIModel.objects.filter(provider=prov)}
    assert chat in models and set(first.added) == set(models)
    assert models[chat].model_type == "inference"
    assert models[chat].source == "discovered"
    assert models[chat].status == "inactive"  # waits for an admin by default
    if embed:
        assert models[embed].model_type == "embedding"
    stamps = {m.pk: m.updated_at for m in models.values()}

    second = sync_provider_models(prov)
    assert (second.added, second.updated, second.gone) == ([], [], [])
    assert second.unchanged == len(models)
    assert {m.pk: m.updated_at for m in AIModel.objects.filter(provider=prov)} == (
        stamps
    )


def test_admin_edits_are_kept_and_vanished_models_are_marked(world):
    with upstreams.start("openai") as upstream:
        prov = upstreams.register(upstream, world.acme)
        manual = AIModel.objects.get(provider=prov, model_id="gpt-4o-mini")
        prov.activate_discovered = True
        prov.save()
        sync_provider_models(prov)
    gpt4o = AIModel.objects.get(provider=prov, model_id="gpt-4o")
    assert gpt4o.status == "active"  # the provider's setting decides
    gpt4o.name, gpt4o.input_cost_per_million, gpt4o.status = "House GPT", 9, "inactive"
    gpt4o.save()

    listed = [ModelInfo("gpt-4o", name="GPT-4o")]
    result = sync_provider_models(prov, listed)
    gpt4o.refresh_from_db()
    assert (gpt4o.name, gpt4o.input_cost_per_million, gpt4o.status) == (
        "House GPT",
        9,
        "inactive",
    )
    assert result.gone == ["o3-mini"]
    gone = AIModel.objects.get(provider=prov, model_id="o3-mini")
    assert gone.missing_since is not None  # marked, never deleted
    manual.refresh_from_db()
    assert manual.missing_since is None  # hand-made models are never marked

    back = sync_provider_models(prov, [*listed, ModelInfo("o3-mini")])
    assert back.returned == ["o3-mini"]
    gone.refresh_from_db()
    assert gone.missing_since is None


def test_a_missing_model_is_not_routed(world):
    from models_catalog.visibility import Principal, visible_models

    with upstreams.start("openai") as upstream:
        prov = upstreams.register(upstream, world.acme)
    model = AIModel.objects.get(provider=prov, model_id="gpt-4o-mini")
    model.source = AIModel.Source.DISCOVERED
    model.save()
    principal = Principal.for_member(world.bob.pk, world.acme.pk)
    assert visible_models(principal).filter(pk=model.pk).exists()
    sync_provider_models(prov, [ModelInfo("other")])
    assert not visible_models(principal).filter(pk=model.pk).exists()


def test_the_task_reports_counts_and_survives_deletion(world):
    assert discover_models.delay(123_456).get() is None
    with upstreams.start("ollama") as upstream:
        prov = upstreams.register(upstream, world.acme)
        counts = discover_models.delay(prov.pk).get()
        assert counts["added"] == 1  # qwen3:8b; the other two were registered
        assert discover_all.delay().get() == 1


def test_refused_credentials_are_an_error_not_an_empty_catalog(world):
    with upstreams.start("anthropic") as upstream:
        prov = upstreams.register(upstream, world.acme)
        prov.seal("credentials", {"api_key": "wrong"})
        prov.save()
        before = AIModel.objects.count()
        with pytest.raises(DriverError) as raised:
            sync_provider_models(prov)
        assert raised.value.code == "upstream_auth_error"
        assert AIModel.objects.count() == before
        assert not AIModel.objects.filter(missing_since__isnull=False).exists()


# What the bundled catalog prices each fake's chat model at (None: not catalogued).
CATALOG_PRICES = {
    "openai": ("0.15", "0.60"),
    "anthropic": ("3", "15"),
    "bedrock": ("0.25", "1.25"),
    "gemini": ("0.30", "2.50"),
    "ollama": ("0", "0"),  # local: free
    "groq": None,  # Groq does not serve gpt-4o-mini
    "azure": None,  # a deployment name, not a model id
}


def test_discovered_models_arrive_with_catalog_prices(provider):
    prov, vendor = provider
    chat, _ = EXPECTED[vendor]
    sync_provider_models(prov)
    model = AIModel.objects.get(provider=prov, model_id=chat)
    expected = CATALOG_PRICES[vendor]
    if expected is None:
        assert model.price_source == "unset"
        assert (model.input_cost_per_million, model.output_cost_per_million) == (0, 0)
        return
    assert model.price_source == "catalog"
    assert (model.input_cost_per_million, model.output_cost_per_million) == tuple(
        Decimal(p) for p in expected
    )
    if vendor != "ollama":
        assert model.context_window  # the vendor's figure, or the catalog's


def test_rediscovery_prices_unpriced_models_and_keeps_the_admins(world):
    with upstreams.start("openai") as upstream:
        prov = upstreams.register(upstream, world.acme)
        AIModel.objects.filter(provider=prov).delete()
        mini = AIModel.objects.create(provider=prov, model_id="gpt-4o-mini")
        own = AIModel.objects.create(
            provider=prov,
            model_id="gpt-4o",
            input_cost_per_million=1,
            output_cost_per_million=2,
            price_source=AIModel.PriceSource.MANUAL,
        )
        result = sync_provider_models(prov)
    mini.refresh_from_db()
    own.refresh_from_db()
    assert "gpt-4o-mini" in result.updated
    assert (mini.input_cost_per_million, mini.price_source) == (
        Decimal("0.15"),
        "catalog",
    )
    assert mini.context_window == 128000
    assert (own.input_cost_per_million, own.output_cost_per_million) == (1, 2)
    assert own.price_source == "manual"
