"""Tokens per minute beside requests per minute: on the admin forms of keys,
models and providers (the API's are in tests/api/test_budgets.py)."""

from __future__ import annotations

from django.test import Client

from gateway.models import ApiKey
from tests.factories import AIModelFactory, ProviderFactory


def test_the_key_admin_sets_tokens_per_minute(world):
    client = Client()
    client.force_login(world.alice)
    response = client.post(
        "/admin/gateway/apikey/add/",
        {
            "organization": world.acme.pk,
            "name": "tpm-agent",
            "requests_per_minute": "60",
            "tokens_per_minute": "40000",
        },
    )
    assert response.status_code == 200  # the secret's one-time page
    key = ApiKey.objects.get(name="tpm-agent")
    assert (key.requests_per_minute, key.tokens_per_minute) == (60, 40000)
    refused = client.post(
        "/admin/gateway/apikey/add/",
        {"organization": world.acme.pk, "name": "bad", "tokens_per_minute": "-5"},
    )
    assert "tokens_per_minute" in refused.context["adminform"].form.errors
    assert not ApiKey.objects.filter(name="bad").exists()


def test_the_model_and_provider_forms_offer_tokens_per_minute(world):
    provider = ProviderFactory(organization=world.acme, tokens_per_minute=1000)
    model = AIModelFactory(provider=provider, tokens_per_minute=250)
    client = Client()
    client.force_login(world.alice)
    for url, value in [
        (f"/admin/providers/provider/{provider.pk}/change/", "1000"),
        (f"/admin/models_catalog/aimodel/{model.pk}/change/", "250"),
    ]:
        response = client.get(url)
        assert response.status_code == 200
        field = response.context["adminform"].form["tokens_per_minute"]
        assert str(field.value()) == value, url
