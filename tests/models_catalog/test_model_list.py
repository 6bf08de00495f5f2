"""The model list: bulk status actions, editable status, badges, readable prices."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from models_catalog.model_list import tokens, usd
from models_catalog.models import AIModel
from models_catalog.starter import add_starter
from providers.models import Provider
from tests.conftest import World
from tests.factories import AIModelFactory, ProviderFactory
from tests.models_catalog.test_admin import MODELS_URL, login, model_data


@pytest.fixture
def acme_provider(world: World) -> Provider:
    return ProviderFactory(
        organization=world.acme, name="acme-openai", provider_type="openai"
    )


def inactive(provider: Provider, *ids: str) -> list[AIModel]:
    return [
        AIModelFactory(provider=provider, model_id=i, status="inactive") for i in ids
    ]


def action(client: Client, name: str, models: list[AIModel]) -> Any:
    return client.post(
        MODELS_URL,
        {"action": name, "_selected_action": [m.pk for m in models]},
        follow=True,
    )


def statuses(models: list[AIModel]) -> list[str]:
    return [AIModel.objects.get(pk=m.pk).status for m in models]


def test_selected_models_are_activated_and_deactivated_at_once(
    world: World, acme_provider: Provider
) -> None:
    models = inactive(acme_provider, "gpt-4o", "gpt-4o-mini", "o3")
    client = login(world.alice)
    response = action(client, "mark_active", models[:2])
    assert statuses(models) == ["active", "active", "inactive"]
    assert "Activated 2 models." in response.content.decode()
    action(client, "mark_inactive", models)
    assert statuses(models) == ["inactive"] * 3


def test_bulk_actions_change_only_the_admins_own_models(
    world: World, acme_provider: Provider
) -> None:
    mine = inactive(acme_provider, "gpt-4o")
    globex = ProviderFactory(organization=world.globex, name="globex-openai")
    theirs = inactive(globex, "gpt-4o")
    action(login(world.alice), "mark_active", mine + theirs)
    assert statuses(mine) == ["active"]
    assert statuses(theirs) == ["inactive"]
    # And the other way round: globex's admin cannot deactivate acme's.
    action(login(world.charlie), "mark_inactive", mine + theirs)
    assert statuses(mine) == ["active"]
    assert statuses(theirs) == ["inactive"]


def test_activating_the_starter_keeps_its_fixed_fields(world: World) -> None:
    provider, _ = add_starter(world.acme, world.alice)
    model = provider.models.get()
    model.status = "inactive"
    model.save()
    before = (model.model_id, model.input_cost_per_million, model.provider_id)
    action(login(world.alice), "mark_active", [model])
    model.refresh_from_db()
    assert model.status == "active"
    assert (model.model_id, model.input_cost_per_million, model.provider_id) == before


def test_status_is_edited_in_the_list(world: World, acme_provider: Provider) -> None:
    models = inactive(acme_provider, "gpt-4o", "o3")
    client = login(world.alice)
    page = client.get(MODELS_URL).content.decode()
    assert 'class="mg-status"' in page  # the select drawn as a badge
    data: dict[str, Any] = {
        "form-TOTAL_FORMS": "2",
        "form-INITIAL_FORMS": "2",
        "_save": "Save",
    }
    listed = list(client.get(MODELS_URL).context["cl"].result_list)
    for i, model in enumerate(listed):
        data[f"form-{i}-id"] = model.pk
        data[f"form-{i}-status"] = "active" if model.model_id == "o3" else "inactive"
    client.post(MODELS_URL, data)
    assert statuses(models) == ["inactive", "active"]


def test_the_list_shows_badges_provider_names_and_prices(
    world: World, acme_provider: Provider
) -> None:
    AIModelFactory(
        provider=acme_provider,
        model_id="gpt-4o-mini",
        input_cost_per_million=Decimal("0.15"),
        output_cost_per_million=Decimal("0.6"),
        price_source="catalog",
        context_window=128000,
    )
    AIModelFactory(
        provider=acme_provider,
        model_id="text-embedding-3-small",
        model_type="embedding",
    )
    AIModelFactory(
        provider=acme_provider,
        model_id="gpt-3.5-turbo",
        name="Old Turbo",
        missing_since=timezone.now(),
    )
    page = login(world.alice).get(MODELS_URL).content.decode()
    assert "$0.15 / $0.60" in page
    assert 'Old Turbo<span class="mg-model-id">gpt-3.5-turbo</span>' in page
    assert ">missing at vendor</span>" in page
    assert '<span class="mg-price-source">catalog</span>' in page
    assert "not priced" in page  # the embedder has no price yet
    assert '<span class="mg-badge mg-type-inference">Chat</span>' in page
    assert '<span class="mg-badge mg-type-embedding">Embedding</span>' in page
    assert '<td class="field-provider_name">acme-openai</td>' in page
    assert "128k" in page
    assert "models_catalog/models_admin.css" in page
    assert "style=" not in page.split('id="result_list"')[1].split("</table>")[0]


def test_prices_and_windows_read_well() -> None:
    assert usd(Decimal("2.500000")) == "$2.50"
    assert usd(Decimal("0.075000")) == "$0.075"
    assert usd(Decimal("0.035")) == "$0.035"
    assert usd(Decimal(15)) == "$15.00"
    assert usd(Decimal("0.000001")) == "$0.000001"
    assert (tokens(128000), tokens(1047576), tokens(None)) == ("128k", "1.05M", "—")
    assert (tokens(131072), tokens(8191), tokens(4000)) == ("131k", "8,191", "4k")


def test_a_hand_made_model_left_unpriced_takes_the_catalog_prices(
    world: World, acme_provider: Provider
) -> None:
    client = login(world.alice)
    form = client.get(f"{MODELS_URL}add/").content.decode()
    assert "Leave blank to use the bundled price catalog" in form
    client.post(
        f"{MODELS_URL}add/",
        model_data(
            acme_provider,
            input_cost_per_million="",
            output_cost_per_million="",
            context_window="",
        ),
    )
    model = AIModel.objects.get(model_id="gpt-4o")
    assert (model.input_cost_per_million, model.output_cost_per_million) == (
        Decimal("2.5"),
        Decimal(10),
    )
    assert (model.price_source, model.context_window) == ("catalog", 128000)

    # Entered prices are the admin's own; blanking them again returns to the catalog.
    change = f"{MODELS_URL}{model.pk}/change/"
    client.post(change, model_data(acme_provider, input_cost_per_million="1"))
    model.refresh_from_db()
    assert (model.input_cost_per_million, model.price_source) == (1, "manual")
    client.post(
        change,
        model_data(
            acme_provider, input_cost_per_million="", output_cost_per_million=""
        ),
    )
    model.refresh_from_db()
    assert (model.input_cost_per_million, model.price_source) == (
        Decimal("2.5"),
        "catalog",
    )


def test_a_hand_made_model_the_catalog_does_not_know_stays_unpriced(
    world: World, acme_provider: Provider
) -> None:
    login(world.alice).post(
        f"{MODELS_URL}add/",
        model_data(
            acme_provider,
            model_id="house-fine-tune",
            input_cost_per_million="",
            output_cost_per_million="",
        ),
    )
    model = AIModel.objects.get(model_id="house-fine-tune")
    assert (model.input_cost_per_million, model.price_source) == (0, "unset")
