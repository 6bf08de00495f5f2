"""Cache prices: in the catalog, on models (catalog or admin set), in the admin."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.db import IntegrityError, transaction

from models_catalog import price_catalog
from models_catalog.models import AIModel
from providers.models import Provider
from tests.conftest import World
from tests.factories import AIModelFactory, ProviderFactory
from tests.models_catalog.test_admin import MODELS_URL, login, model_data


def cache(model: AIModel) -> tuple[Decimal | None, Decimal | None, str]:
    model.refresh_from_db()
    return (
        model.cache_read_cost_per_million,
        model.cache_write_cost_per_million,
        model.price_source,
    )


@pytest.mark.parametrize(
    ("provider_type", "model_id", "read", "write"),
    [
        ("anthropic", "claude-sonnet-4-5-20250929", "0.30", "3.75"),
        ("anthropic", "claude-opus-4-5", "0.50", "6.25"),
        ("anthropic", "claude-haiku-4-5", "0.10", "1.25"),
        ("anthropic", "claude-3-haiku-20240307", "0.03", "0.30"),  # as published
        ("bedrock", "us.anthropic.claude-sonnet-4-5-20250929-v1:0", "0.30", "3.75"),
        ("openrouter", "anthropic/claude-sonnet-4.5", "0.30", "3.75"),
        ("openai", "gpt-4o", "1.25", None),  # no write charge at OpenAI
        ("openai", "gpt-4o-mini", "0.075", None),
        ("azure_openai", "gpt-4.1", "0.50", None),
        ("openai", "gpt-5-nano", "0.005", None),
        ("gemini", "models/gemini-2.5-flash", "0.03", None),
        ("gemini", "gemini-2.5-pro", "0.125", None),
        # Not cached (or not certainly priced): billed at the input price.
        ("openai", "gpt-4o-2024-05-13", None, None),
        ("openai", "gpt-3.5-turbo", None, None),
        ("bedrock", "amazon.nova-pro-v1:0", None, None),
        ("mistral", "mistral-large-latest", None, None),
    ],
)
def test_the_shipped_catalog_prices_the_caches_vendors_publish(
    provider_type: str, model_id: str, read: str | None, write: str | None
) -> None:
    entry = price_catalog.bundled().lookup(provider_type, model_id)
    assert entry is not None
    assert entry.cache_read_cost == (Decimal(read) if read else None)
    assert entry.cache_write_cost == (Decimal(write) if write else None)


def test_anthropic_cache_prices_follow_its_multipliers() -> None:
    """Read 0.1 x input, 5-minute write 1.25 x input (Claude 3 Haiku rounded)."""
    vendor = price_catalog.bundled().vendors["anthropic"]
    for model_id, entry in vendor.models.items():
        if model_id == "claude-3-haiku":
            continue
        assert entry.cache_read_cost == entry.input_cost / 10, model_id
        assert entry.cache_write_cost == entry.input_cost * Decimal("1.25"), model_id


def test_a_bad_cache_price_is_refused_with_its_place() -> None:
    data = json.loads(price_catalog.BUNDLED.read_text())
    entry = {"input": "1", "output": "2", "cache_read": "-0.1"}
    data["vendors"] = {"openai": {"models": {"gpt-x": entry}}}
    with pytest.raises(price_catalog.CatalogError) as caught:
        price_catalog.load(json.dumps(data))
    assert "vendors['openai'].models['gpt-x'].cache_read" in str(caught.value)
    entry = {"input": "1", "output": "2", "cache_write": "a lot"}
    data["vendors"] = {"openai": {"models": {"gpt-x": entry}}}
    with pytest.raises(price_catalog.CatalogError, match="cache_write"):
        price_catalog.load(json.dumps(data))


def test_refresh_fills_cache_prices_and_keeps_the_admins(
    world: World, tmp_path: Path
) -> None:
    provider = ProviderFactory(organization=world.acme, provider_type="anthropic")
    unset = AIModelFactory(provider=provider, model_id="claude-sonnet-4-5")
    # Priced from an older catalog without cache prices: follows the catalog.
    catalog = AIModelFactory(
        provider=provider,
        model_id="claude-haiku-4-5",
        input_cost_per_million=1,
        output_cost_per_million=5,
        price_source=AIModel.PriceSource.CATALOG,
    )
    manual = AIModelFactory(
        provider=provider,
        model_id="claude-opus-4-5",
        input_cost_per_million=5,
        output_cost_per_million=25,
        cache_read_cost_per_million=Decimal("0.4"),
        price_source=AIModel.PriceSource.MANUAL,
    )
    call_command("refresh_model_catalog")
    assert cache(unset) == (Decimal("0.3"), Decimal("3.75"), "catalog")
    assert cache(catalog) == (Decimal("0.1"), Decimal("1.25"), "catalog")
    assert cache(manual) == (Decimal("0.4"), None, "manual")  # the admin's own

    # A newer file that drops a cache price drops it from the models it prices.
    data = json.loads(price_catalog.BUNDLED.read_text())
    data["as_of"] = "2099-01-01"
    del data["vendors"]["anthropic"]["models"]["claude-haiku-4-5"]["cache_write"]
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(data))
    call_command("refresh_model_catalog", "--file", str(path))
    assert cache(catalog) == (Decimal("0.1"), None, "catalog")
    assert cache(manual) == (Decimal("0.4"), None, "manual")


def test_a_model_with_only_a_cache_price_is_not_the_catalogs(world: World) -> None:
    provider = ProviderFactory(organization=world.acme, provider_type="openai")
    model = AIModelFactory(
        provider=provider, model_id="gpt-4o", cache_read_cost_per_million=1
    )
    call_command("refresh_model_catalog")
    assert cache(model) == (1, None, "unset")


def test_a_negative_cache_price_is_refused_by_the_database(world: World) -> None:
    model = AIModelFactory(provider=ProviderFactory(organization=world.acme))
    for field in ("cache_read_cost_per_million", "cache_write_cost_per_million"):
        with pytest.raises(IntegrityError), transaction.atomic():
            AIModel.objects.filter(pk=model.pk).update(**{field: -1})


@pytest.fixture
def acme_openai(world: World) -> Provider:
    return ProviderFactory(
        organization=world.acme, name="acme-openai", provider_type="openai"
    )


def test_the_model_form_fills_blank_cache_prices_from_the_catalog(
    world: World, acme_openai: Provider
) -> None:
    client = login(world.alice)
    form = client.get(f"{MODELS_URL}add/").content.decode()
    assert 'name="cache_read_cost_per_million"' in form
    assert 'name="cache_write_cost_per_million"' in form
    assert "billed at the input price" in form
    blank = {"input_cost_per_million": "", "output_cost_per_million": ""}
    client.post(f"{MODELS_URL}add/", model_data(acme_openai, **blank))
    model = AIModel.objects.get(model_id="gpt-4o")
    assert cache(model) == (Decimal("1.25"), None, "catalog")

    # A cache price entered alone makes the prices the admin's.
    change = f"{MODELS_URL}{model.pk}/change/"
    entered: dict[str, Any] = {
        **model_data(acme_openai),
        "input_cost_per_million": "2.5",
        "output_cost_per_million": "10",
        "cache_read_cost_per_million": "1",
        "cache_write_cost_per_million": "",
    }
    response = client.post(change, entered)
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert cache(model) == (1, None, "manual")
    response = client.post(change, {**entered, "cache_write_cost_per_million": "-1"})
    assert "cache_write_cost_per_million" in response.context["adminform"].form.errors


def test_the_model_list_shows_cache_prices_under_the_prices(
    world: World, acme_openai: Provider
) -> None:
    AIModelFactory(
        provider=acme_openai,
        model_id="claude-ish",
        input_cost_per_million=3,
        output_cost_per_million=15,
        cache_read_cost_per_million=Decimal("0.3"),
        cache_write_cost_per_million=Decimal("3.75"),
        price_source="manual",
    )
    AIModelFactory(
        provider=acme_openai,
        model_id="gpt-4o",
        input_cost_per_million=Decimal("2.5"),
        output_cost_per_million=10,
        cache_read_cost_per_million=Decimal("1.25"),
        price_source="catalog",
    )
    AIModelFactory(
        provider=acme_openai,
        model_id="no-cache",
        input_cost_per_million=1,
        output_cost_per_million=1,
        price_source="manual",
    )
    page = login(world.alice).get(MODELS_URL).content.decode()
    assert '<span class="mg-cache-price">cache read $0.30, write $3.75</span>' in page
    assert '<span class="mg-cache-price">cache read $1.25</span>' in page
    assert page.count("mg-cache-price") == 2
