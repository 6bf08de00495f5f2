"""What still uses a provider or model: one rule for the admin and the API."""

from __future__ import annotations

from datetime import timedelta

from django.test import Client
from django.utils import timezone

from gateway import dependents
from gateway.models import ApiKey, UsageRecord
from tests.factories import AIModelFactory, GrantFactory, ProviderFactory


def test_keys_naming_a_model_by_id_alias_or_provider_path_count(world):
    provider = ProviderFactory(organization=world.acme, name="main")
    model = AIModelFactory(provider=provider, model_id="gpt-4o", alias="smart")
    assert not dependents.of_model(model)
    ApiKey.issue(world.acme, None, "by-id", allowed_models=["gpt-4o"])
    ApiKey.issue(world.acme, None, "by-alias", allowed_models=["smart"])
    ApiKey.issue(world.acme, None, "by-path", allowed_models=["main/gpt-4o"])
    ApiKey.issue(world.acme, None, "other", allowed_models=["gpt-4o-mini"])
    revoked, _ = ApiKey.issue(world.acme, None, "gone", allowed_models=["gpt-4o"])
    revoked.revoke()
    ApiKey.issue(world.globex, None, "theirs", allowed_models=["gpt-4o"])
    found = dependents.of_model(model)
    assert found.api_keys == ["by-alias", "by-id", "by-path"]
    # globex's "gpt-4o" is its own model until acme shares this one with it
    assert found.other_organizations_api_keys == 0
    GrantFactory(model=model, organization=world.globex)
    assert dependents.of_model(model).other_organizations_api_keys == 1
    assert dependents.of_provider(provider).api_keys == found.api_keys


def test_recent_calls_count_and_old_ones_do_not(world):
    provider = ProviderFactory(organization=world.acme, name="main")
    model = AIModelFactory(provider=provider, model_id="gpt-4o")
    base = {
        "organization": world.acme,
        "endpoint": "chat",
        "model_name": "gpt-4o",
        "status_code": 200,
        "provider": provider,
        "model": model,
    }
    UsageRecord.objects.create(**base, created_at=timezone.now() - timedelta(days=30))
    assert not dependents.of_provider(provider)
    UsageRecord.objects.create(**base)
    assert dependents.of_provider(provider).recent_calls == 1
    assert "served 1 gateway call(s)" in dependents.of_model(model).describe()


def test_the_admins_delete_page_lists_what_still_uses_it(world):
    provider = ProviderFactory(organization=world.acme, name="main")
    model = AIModelFactory(provider=provider, model_id="gpt-4o")
    ApiKey.issue(world.acme, None, "ci", allowed_models=["gpt-4o"])
    admin = Client()
    admin.force_login(world.alice)
    page = admin.get(f"/admin/providers/provider/{provider.pk}/delete/")
    assert "Still in use: named by the API keys ci." in page.content.decode()
    page = admin.get(f"/admin/models_catalog/aimodel/{model.pk}/delete/")
    assert "Still in use: named by the API keys ci." in page.content.decode()
