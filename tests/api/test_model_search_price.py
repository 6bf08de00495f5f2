"""A rerank model's search price through the management API: shown, set, and
never reset by a write that does not name it."""

from __future__ import annotations

from decimal import Decimal

from models_catalog.models import AIModel
from tests.factories import AIModelFactory, ProviderFactory

URL = "organizations/acme/providers/main/models/rerank-v3/"


def test_a_write_that_does_not_name_the_search_price_keeps_it(world, api):
    provider = ProviderFactory(organization=world.acme, name="main")
    model = AIModelFactory(
        provider=provider,
        model_id="rerank-v3",
        model_type="rerank",
        cost_per_thousand_searches=Decimal(2),
    )
    assert api.alice.patch(URL, {"status": "inactive"}).status_code == 200
    assert api.alice.put(URL, {"name": "Rerank"}).status_code == 200
    model.refresh_from_db()
    assert model.cost_per_thousand_searches == Decimal(2)
    assert api.alice.get(URL).json()["cost_per_thousand_searches"] == "2.000000"


def test_the_search_price_is_set_by_put_and_reapplying_changes_nothing(world, api):
    ProviderFactory(organization=world.acme, name="main")
    desired = {"model_type": "rerank", "cost_per_thousand_searches": "1.5"}
    assert api.alice.put(URL, desired).status_code == 201
    assert AIModel.objects.get(model_id="rerank-v3").cost_per_thousand_searches == (
        Decimal("1.5")
    )
    again = api.alice.put(URL, desired)
    assert again.status_code == 200
    assert again["X-Changed"] == "false"
