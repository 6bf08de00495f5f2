"""The bundled price catalog, its lookups, and refresh_model_catalog."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from models_catalog import price_catalog
from models_catalog.models import AIModel, CatalogRelease
from providers.catalog import TYPE_CHOICES
from tests.conftest import World
from tests.factories import AIModelFactory, ProviderFactory

# Types that serve whatever the operator runs: no list price to know.
UNPRICED_TYPES = {"openai_compatible", "vllm"}


def bundled_data() -> dict[str, Any]:
    return json.loads(price_catalog.BUNDLED.read_text())


def test_the_bundled_file_is_dated_sourced_and_covers_every_vendor() -> None:
    catalog = price_catalog.bundled()
    assert catalog.as_of.isoformat() == bundled_data()["as_of"]
    types = {name for name, _ in TYPE_CHOICES}
    assert types - UNPRICED_TYPES <= set(catalog.vendors)
    for vendor, url in catalog.sources.items():
        assert url.startswith("https://"), vendor
    assert catalog.model_count() > 80


@pytest.mark.parametrize(
    ("provider_type", "model_id", "prices", "window"),
    [
        ("openai", "gpt-4o-mini", ("0.15", "0.60"), 128000),
        ("openai", "gpt-4o-2024-08-06", ("2.50", "10"), 128000),  # a snapshot
        ("azure_openai", "gpt-4o-mini", ("0.15", "0.60"), 128000),  # OpenAI's
        ("anthropic", "claude-sonnet-4-5-20250929", ("3", "15"), 200000),
        ("anthropic", "claude-3-5-haiku-latest", ("0.80", "4"), 200000),
        ("bedrock", "anthropic.claude-3-haiku-20240307-v1:0", ("0.25", "1.25"), None),
        ("bedrock", "us.anthropic.claude-sonnet-4-5-20250929-v1:0", ("3", "15"), None),
        ("bedrock", "eu.anthropic.claude-haiku-4-5-20251001-v1:0", ("1", "5"), None),
        (
            "bedrock",
            "global.anthropic.claude-opus-4-5-20251101-v1:0",
            ("5", "25"),
            None,
        ),
        ("gemini", "models/gemini-2.5-flash", ("0.30", "2.50"), 1048576),
        ("mistral", "mistral-large-latest", ("2", "6"), None),
        ("deepseek", "deepseek-chat", ("0.28", "0.42"), None),
        ("xai", "grok-4", ("3", "15"), None),
        ("groq", "llama-3.3-70b-versatile", ("0.59", "0.79"), None),
        ("together", "meta-llama/Llama-3.3-70B-Instruct-Turbo", ("0.88", "0.88"), None),
        ("fireworks", "accounts/fireworks/models/deepseek-v3", ("0.90", "0.90"), None),
        ("openrouter", "openai/gpt-4o-mini", ("0.15", "0.60"), None),
        ("openrouter", "anthropic/claude-sonnet-4.5", ("3", "15"), None),
        ("ollama", "llama3.2:latest", ("0", "0"), None),
    ],
)
def test_lookup_knows_each_vendors_spelling(
    provider_type: str, model_id: str, prices: tuple[str, str], window: int | None
) -> None:
    entry = price_catalog.bundled().lookup(provider_type, model_id)
    assert entry is not None
    assert (entry.input_cost, entry.output_cost) == tuple(Decimal(p) for p in prices)
    if window:
        assert entry.context_window == window


def test_rerank_models_are_priced_per_thousand_searches(world: World) -> None:
    catalog = price_catalog.bundled()
    for provider_type, model_id, price in [
        ("cohere", "rerank-v3.5", "2"),
        ("bedrock", "amazon.rerank-v1:0", "1"),
    ]:
        entry = catalog.lookup(provider_type, model_id)
        assert entry is not None and entry.search_cost == Decimal(price)
    model = AIModelFactory(
        provider=ProviderFactory(organization=world.acme, provider_type="cohere"),
        model_id="rerank-v3.5",
        model_type="rerank",
    )
    assert "cost_per_thousand_searches" in price_catalog.apply_prices(model, "cohere")
    assert model.cost_per_thousand_searches == Decimal(2)


def test_lookup_misses_unknown_models_and_types() -> None:
    catalog = price_catalog.bundled()
    assert catalog.lookup("openai", "my-fine-tune") is None
    assert catalog.lookup("vllm", "gpt-4o-mini") is None
    assert catalog.lookup("openrouter", "unknown-vendor/gpt-4o") is None


def bad(data: dict[str, Any], **change: Any) -> str:
    broken = {**data, **change}
    with pytest.raises(price_catalog.CatalogError) as caught:
        price_catalog.load(json.dumps(broken))
    return str(caught.value)


def test_a_bad_file_is_refused_with_a_message_naming_the_problem() -> None:
    data = bundled_data()
    with pytest.raises(price_catalog.CatalogError, match="not valid JSON"):
        price_catalog.load("{oops")
    assert "as_of" in bad(data, as_of="last week")
    assert "sources" in bad(data, sources={})
    assert "currency" in bad(data, currency="EUR")
    negative = {"openai": {"models": {"gpt-x": {"input": "-1", "output": "2"}}}}
    message = bad(data, vendors=negative)
    assert "vendors['openai'].models['gpt-x'].input" in message
    missing = {"openai": {"models": {"gpt-x": {"input": "1"}}}}
    assert "output price is missing" in bad(data, vendors=missing)
    dangling = {"azure_openai": {"same_as": "openai"}}
    assert "'openai', which is not in the file" in bad(data, vendors=dangling)


@pytest.fixture
def priced(world: World) -> dict[str, AIModel]:
    provider = ProviderFactory(
        organization=world.acme, name="acme-openai", provider_type="openai"
    )
    return {
        "unset": AIModelFactory(provider=provider, model_id="gpt-4o-mini"),
        "catalog": AIModelFactory(
            provider=provider,
            model_id="gpt-4o",
            input_cost_per_million=Decimal("2.50"),
            output_cost_per_million=Decimal(10),
            price_source=AIModel.PriceSource.CATALOG,
        ),
        "manual": AIModelFactory(
            provider=provider,
            model_id="gpt-4.1",
            input_cost_per_million=Decimal(1),
            output_cost_per_million=Decimal(1),
            price_source=AIModel.PriceSource.MANUAL,
        ),
    }


def newer_file(tmp_path: Path, **prices: tuple[str, str]) -> Path:
    data = bundled_data()
    data["as_of"] = "2099-01-01"
    for model_id, (i, o) in prices.items():
        data["vendors"]["openai"]["models"][model_id] = {"input": i, "output": o}
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(data))
    return path


def costs(model: AIModel) -> tuple[Decimal, Decimal, str]:
    model.refresh_from_db()
    return (
        model.input_cost_per_million,
        model.output_cost_per_million,
        model.price_source,
    )


def test_refresh_loads_a_newer_file_and_reprices_only_catalog_prices(
    priced: dict[str, AIModel], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = newer_file(tmp_path, **{"gpt-4o": ("2", "8"), "gpt-4.1": ("9", "9")})
    call_command("refresh_model_catalog", "--file", str(path))
    out = capsys.readouterr().out
    assert "Price catalog of 2099-01-01 in force" in out
    assert "1 models priced, 1 re-priced" in out
    assert costs(priced["catalog"]) == (2, 8, "catalog")
    assert costs(priced["unset"]) == (Decimal("0.15"), Decimal("0.60"), "catalog")
    assert costs(priced["manual"]) == (1, 1, "manual")  # the admin's own
    assert price_catalog.current().as_of.year == 2099  # shared: in the database
    # Discovery and the model form now use the newer figures.
    entry = price_catalog.current().lookup("openai", "gpt-4o")
    assert entry is not None and entry.input_cost == 2


def test_a_bad_or_older_file_changes_nothing(
    priced: dict[str, AIModel], tmp_path: Path
) -> None:
    before = {name: costs(model) for name, model in priced.items()}
    path = newer_file(tmp_path, **{"gpt-4o": ("2", "8")})
    data = json.loads(path.read_text())
    data["vendors"]["openai"]["models"]["gpt-4o-mini"]["output"] = "cheap"
    path.write_text(json.dumps(data))
    with pytest.raises(CommandError, match=r"gpt-4o-mini.*'cheap' is not a number"):
        call_command("refresh_model_catalog", "--file", str(path))

    data["vendors"]["openai"]["models"]["gpt-4o-mini"]["output"] = "0.60"
    data["as_of"] = "2001-01-01"
    path.write_text(json.dumps(data))
    with pytest.raises(CommandError, match="older than the catalog in force"):
        call_command("refresh_model_catalog", "--file", str(path))

    with pytest.raises(CommandError, match="Cannot read"):
        call_command("refresh_model_catalog", "--file", str(tmp_path / "nope.json"))
    assert {name: costs(model) for name, model in priced.items()} == before
    assert not CatalogRelease.objects.exists()


def test_prices_other_code_wrote_are_never_overwritten(world: World) -> None:
    """Unset but not zero: written by the bootstrap file, say; kept as they are."""
    provider = ProviderFactory(organization=world.acme, provider_type="openai")
    model = AIModelFactory(
        provider=provider, model_id="gpt-4o-mini", input_cost_per_million=7
    )
    call_command("refresh_model_catalog")
    assert costs(model) == (7, 0, "unset")


def test_dated_snapshot_with_its_own_price() -> None:
    """Review finding 6: a snapshot priced apart is not priced as its model."""
    catalog = price_catalog.bundled()

    def prices(provider_type: str, model_id: str) -> tuple[Decimal, Decimal] | None:
        entry = catalog.lookup(provider_type, model_id)
        return None if entry is None else (entry.input_cost, entry.output_cost)

    assert prices("openai", "gpt-4o-2024-05-13") == (5, 15)
    assert prices("openrouter", "openai/gpt-4o-2024-05-13") == (5, 15)
    assert prices("azure_openai", "gpt-4o-2024-05-13") == (5, 15)
    assert prices("openai", "gpt-4o-2024-11-20") == (Decimal("2.50"), 10)
    # OpenAI prices some snapshots apart: one it has not listed is not guessed.
    assert prices("openai", "gpt-4o-2026-01-01") is None
    # Anthropic prices every snapshot of a model alike: its dates are dropped.
    assert prices("anthropic", "claude-3-5-sonnet-20240620") == (3, 15)
    assert prices("openrouter", "anthropic/claude-3.5-sonnet-20241022") == (3, 15)


def test_dates_are_dropped_only_for_vendors_that_say_so() -> None:
    data = bundled_data()
    data["vendors"]["anthropic"].pop("snapshots_priced_alike")
    catalog = price_catalog.load(json.dumps(data))
    assert catalog.lookup("anthropic", "claude-sonnet-4-5") is not None
    assert catalog.lookup("anthropic", "claude-sonnet-4-5-20250929") is None
    data["vendors"]["anthropic"]["snapshots_priced_alike"] = "yes"
    assert "snapshots_priced_alike" in bad(data)


def test_the_price_source_migration_leaves_starter_prices_to_the_catalog(
    world: World,
) -> None:
    """Review finding 12: starters were priced by code, not by an admin."""
    import importlib

    from django.apps import apps

    migration = importlib.import_module(
        "models_catalog.migrations.0003_price_source_catalog_release_grant_messages"
    )
    starter = ProviderFactory(organization=world.acme, starter=True)
    repriced_starter = ProviderFactory(organization=world.globex, starter=True)
    own = ProviderFactory(organization=world.acme)
    rows = {
        "starter": AIModelFactory(
            provider=starter,
            model_id="gpt-4o-mini",
            input_cost_per_million=Decimal("0.15"),
            output_cost_per_million=Decimal("0.60"),
        ),
        "repriced starter": AIModelFactory(
            provider=repriced_starter,
            model_id="gpt-4o-mini",
            input_cost_per_million=1,
            output_cost_per_million=2,
        ),
        "admin's": AIModelFactory(
            provider=own, input_cost_per_million=3, output_cost_per_million=15
        ),
        "free": AIModelFactory(provider=own),
    }
    migration.mark_admin_prices(apps, None)
    sources = {
        label: AIModel.objects.get(pk=row.pk).price_source
        for label, row in rows.items()
    }
    assert sources == {
        "starter": "catalog",
        "repriced starter": "manual",
        "admin's": "manual",
        "free": "unset",
    }
