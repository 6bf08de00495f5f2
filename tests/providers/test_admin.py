"""Provider admin: scoped to the org admin's organizations, credentials write-only."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.admin.models import LogEntry
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from accounts.models import User
from models_catalog.models import AIModel, Grant
from providers.models import Provider
from tests.conftest import World
from tests.factories import AIModelFactory, GrantFactory, ProviderFactory, UserFactory

SECRET = "sk-live-VERY-SECRET-0001"
LIST_URL = "/admin/providers/provider/"
ADD_URL = "/admin/providers/provider/add/"


def change_url(provider: Provider) -> str:
    return f"/admin/providers/provider/{provider.pk}/change/"


def delete_url(provider: Provider) -> str:
    return f"/admin/providers/provider/{provider.pk}/delete/"


def login(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def form_data(provider: Provider | None = None, **overrides: Any) -> dict[str, Any]:
    """What the change form posts when the admin leaves every input as shown."""
    data: dict[str, Any] = {
        "organization": provider.organization_id if provider else "",
        "name": provider.name if provider else "",
        "provider_type": provider.provider_type if provider else "openai",
        "endpoint": provider.endpoint if provider else "",
        "auth_method": provider.auth_method if provider else "bearer",
        "status": "active",
        "priority": "100",
        "requests_per_minute": "",
        "timeout_connect": "5.0",
        "timeout_first_byte": "60.0",
        "timeout_total": "600.0",
        # These tests are about storage; the vendor check has its own tests.
        "save_without_verifying": "on",
        "_save": "Save",
    }
    data.update(overrides)
    return data


@pytest.fixture
def acme_provider(world: World) -> Provider:
    return ProviderFactory(
        organization=world.acme, name="acme-openai", secrets={"api_key": SECRET}
    )


@pytest.fixture
def globex_provider(world: World) -> Provider:
    return ProviderFactory(organization=world.globex, name="globex-anthropic")


@pytest.fixture
def root(db: None) -> User:
    return UserFactory(username="root", is_staff=True, is_superuser=True)


def test_org_admin_lists_only_their_organizations_providers(
    world: World, acme_provider: Provider, globex_provider: Provider
) -> None:
    response = login(world.alice).get(LIST_URL)
    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == [acme_provider]
    body = response.content.decode()
    assert "acme-openai" in body
    assert "globex-anthropic" not in body
    assert "Globex" not in body  # not even in the organization filter


def test_another_org_admin_gets_404_on_the_change_and_delete_pages(
    world: World, acme_provider: Provider
) -> None:
    client = login(world.charlie)
    assert client.get(change_url(acme_provider)).status_code == 404
    assert client.get(delete_url(acme_provider)).status_code == 404
    response = client.post(delete_url(acme_provider), {"post": "yes"})
    assert response.status_code == 404
    assert Provider.objects.filter(pk=acme_provider.pk).exists()


def test_a_staff_member_without_the_admin_role_cannot_manage_providers(
    world: World, acme_provider: Provider
) -> None:
    world.bob.is_staff = True
    world.bob.save()
    client = login(world.bob)
    assert client.get(LIST_URL).status_code == 403
    assert client.get(change_url(acme_provider)).status_code == 404
    assert client.get(ADD_URL).status_code == 403


def test_a_superuser_sees_every_organizations_providers(
    root: User, acme_provider: Provider, globex_provider: Provider
) -> None:
    response = login(root).get(LIST_URL)
    assert set(response.context["cl"].result_list) == {acme_provider, globex_provider}


def test_the_list_shows_endpoint_health_badge_and_model_count(
    world: World, acme_provider: Provider
) -> None:
    AIModelFactory.create_batch(3, provider=acme_provider)
    Provider.objects.filter(pk=acme_provider.pk).update(health="unavailable")
    ProviderFactory(
        organization=world.acme,
        name="acme-compat",
        provider_type="openai_compatible",
        config={"base_url": "https://llm.acme.test/v1"},
    )
    response = login(world.alice).get(LIST_URL)
    body = response.content.decode()
    assert "https://api.openai.com/v1" in body
    assert "https://llm.acme.test/v1" in body
    assert 'class="health-badge"' in body
    # unavailable is red, by a stylesheet rule: the CSP forbids inline styles
    assert 'data-health="unavailable"' in body
    assert "providers/admin.css" in body
    counts = {p.name: p.model_count for p in response.context["cl"].result_list}
    assert counts == {"acme-openai": 3, "acme-compat": 0}


def test_the_list_makes_a_constant_number_of_queries(
    world: World, acme_provider: Provider
) -> None:
    client = login(world.alice)
    client.get(LIST_URL)
    with CaptureQueriesContext(connection) as few:
        client.get(LIST_URL)
    for n in range(10):
        provider = ProviderFactory(organization=world.acme, name=f"more-{n}")
        AIModelFactory(provider=provider)
    with CaptureQueriesContext(connection) as many:
        client.get(LIST_URL)
    assert len(many) == len(few)


def test_the_list_searches_by_name_and_filters_by_health(
    world: World, acme_provider: Provider
) -> None:
    ProviderFactory(organization=world.acme, name="acme-other", endpoint="")
    client = login(world.alice)
    found = client.get(LIST_URL, {"q": "other"}).context["cl"].result_list
    assert [p.name for p in found] == ["acme-other"]
    healthy = client.get(LIST_URL, {"health__exact": "available"})
    assert list(healthy.context["cl"].result_list) == []


def test_a_new_provider_stores_the_key_encrypted_and_never_shows_it(
    world: World,
) -> None:
    client = login(world.alice)
    response = client.post(
        ADD_URL,
        form_data(organization=world.acme.pk, name="fresh", api_key=SECRET),
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    provider = Provider.objects.get(name="fresh")
    assert provider.get_credentials() == {"api_key": SECRET}
    assert provider.owner == world.alice
    stored = Provider.objects.filter(pk=provider.pk).values_list(
        "credentials", flat=True
    )
    assert SECRET not in str(stored[0].stored)
    page = client.get(change_url(provider)).content.decode()
    assert SECRET not in page
    assert "configured; leave blank to keep it" in page
    assert "null</textarea>" not in page
    log = LogEntry.objects.get(object_id=str(provider.pk))
    assert SECRET not in f"{log.change_message} {log.object_repr}"


def test_saving_other_fields_keeps_the_stored_secret(
    world: World, acme_provider: Provider
) -> None:
    client = login(world.alice)
    response = client.post(
        change_url(acme_provider), form_data(acme_provider, priority="5")
    )
    assert response.status_code == 302
    acme_provider.refresh_from_db()
    assert acme_provider.priority == 5
    assert acme_provider.get_credentials() == {"api_key": SECRET}
    assert SECRET not in client.get(change_url(acme_provider)).content.decode()


def test_a_new_value_replaces_only_that_secret(world: World) -> None:
    provider = ProviderFactory(
        organization=world.acme,
        name="aws",
        provider_type="bedrock",
        auth_method="aws_sigv4",
        secrets={"access_key_id": "AKIAOLD", "secret_access_key": "old-secret"},
        config={"region": "us-east-1"},
    )
    response = login(world.alice).post(
        change_url(provider),
        form_data(provider, region="us-east-1", aws_secret_access_key="new-secret"),
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    provider.refresh_from_db()
    assert provider.get_credentials() == {
        "access_key_id": "AKIAOLD",
        "secret_access_key": "new-secret",
    }
    assert provider.get_config() == {"region": "us-east-1"}


def test_clearing_credentials_removes_them(world: World) -> None:
    provider = ProviderFactory(
        organization=world.acme,
        name="local",
        provider_type="ollama",
        auth_method="none",
        secrets={"api_key": SECRET},
    )
    response = login(world.alice).post(
        change_url(provider), form_data(provider, clear_credentials="on")
    )
    assert response.status_code == 302
    provider.refresh_from_db()
    assert provider.get_credentials() == {}
    assert not provider.is_configured("credentials")


def test_sigv4_without_a_secret_is_refused_with_a_clear_message(
    world: World,
) -> None:
    response = login(world.alice).post(
        ADD_URL,
        form_data(
            organization=world.acme.pk,
            name="aws",
            provider_type="bedrock",
            auth_method="aws_sigv4",
            region="us-east-1",
            aws_access_key_id="AKIAONLY",
        ),
    )
    assert response.status_code == 200
    form = response.context["adminform"].form
    assert "AWS SigV4 needs a secret access key." in form.non_field_errors()
    assert "AKIAONLY" not in response.content.decode()
    assert not Provider.objects.filter(name="aws").exists()


def test_a_forbidden_custom_header_is_refused_and_not_echoed(world: World) -> None:
    response = login(world.alice).post(
        ADD_URL,
        form_data(
            organization=world.acme.pk,
            name="hdr",
            provider_type="openai_compatible",
            endpoint="https://llm.example.test/v1",
            auth_method="custom_headers",
            custom_headers="X-Token: hdr-SECRET-42\nHost: evil.test",
        ),
    )
    assert response.status_code == 200
    form = response.context["adminform"].form
    assert form.errors["custom_headers"] == ["Custom headers may not set Host."]
    assert "hdr-SECRET-42" not in response.content.decode()
    assert not Provider.objects.filter(name="hdr").exists()
    # Error reports for this request would mask the submitted secrets.
    hidden = response.wsgi_request.sensitive_post_parameters
    assert {"custom_headers", "api_key", "aws_secret_access_key"} <= set(hidden)


def test_custom_headers_are_stored_as_a_dict(world: World) -> None:
    response = login(world.alice).post(
        ADD_URL,
        form_data(
            organization=world.acme.pk,
            name="hdr",
            provider_type="openai_compatible",
            endpoint="https://llm.example.test/v1",
            auth_method="custom_headers",
            custom_headers="X-Token: hdr-SECRET-42\n\nX-Tenant: acme",
        ),
    )
    assert response.status_code == 302
    provider = Provider.objects.get(name="hdr")
    assert provider.get_credentials() == {
        "headers": {"X-Token": "hdr-SECRET-42", "X-Tenant": "acme"}
    }


def test_a_non_http_endpoint_is_refused(world: World) -> None:
    response = login(world.alice).post(
        ADD_URL,
        form_data(
            organization=world.acme.pk,
            name="ftp",
            endpoint="ftp://llm.example.test",
            api_key=SECRET,
        ),
    )
    assert response.status_code == 200
    form = response.context["adminform"].form
    assert form.errors["endpoint"] == [
        "The endpoint must be an http:// or https:// URL with a host."
    ]
    assert SECRET not in response.content.decode()


def test_a_missing_api_key_is_reported_on_the_key_field(world: World) -> None:
    response = login(world.alice).post(
        ADD_URL, form_data(organization=world.acme.pk, name="nokey")
    )
    form = response.context["adminform"].form
    assert form.errors["api_key"] == ["This auth method needs an API key."]


def test_vendor_settings_round_trip_through_the_encrypted_config(
    world: World,
) -> None:
    client = login(world.alice)
    response = client.post(
        ADD_URL,
        form_data(
            organization=world.acme.pk,
            name="azure",
            provider_type="azure_openai",
            auth_method="api_key",
            endpoint="https://acme.openai.azure.com",
            api_key=SECRET,
            api_version="2024-10-21",
            deployments='{"gpt-4o": "prod-4o"}',
            extra_config='{"extra_headers": {"X-Team": "ml"}}',
        ),
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    provider = Provider.objects.get(name="azure")
    assert provider.get_config() == {
        "api_version": "2024-10-21",
        "deployments": {"gpt-4o": "prod-4o"},
        "extra_headers": {"X-Team": "ml"},
    }
    page = client.get(change_url(provider)).content.decode()
    assert "2024-10-21" in page
    assert "prod-4o" in page


def test_the_organization_choices_offer_only_managed_organizations(
    world: World,
) -> None:
    response = login(world.alice).get(ADD_URL)
    field = response.context["adminform"].form.fields["organization"]
    assert list(field.queryset) == [world.acme]
    assert "Globex" not in response.content.decode()


def test_posting_another_organization_is_refused(world: World) -> None:
    response = login(world.alice).post(
        ADD_URL, form_data(organization=world.globex.pk, name="x", api_key=SECRET)
    )
    assert response.status_code == 200
    assert "organization" in response.context["adminform"].form.errors
    assert not Provider.objects.filter(organization=world.globex).exists()


def test_an_org_admin_cannot_make_a_provider_instance_wide(
    world: World, acme_provider: Provider
) -> None:
    client = login(world.alice)
    page = client.get(change_url(acme_provider)).content.decode()
    assert 'name="instance_wide"' not in page
    # Said in words, not as a red cross on an ordinary provider.
    assert "No (only a superuser can share with the whole instance)." in page
    assert "icon-no.svg" not in page
    response = client.post(
        change_url(acme_provider), form_data(acme_provider, instance_wide="on")
    )
    assert response.status_code == 302
    acme_provider.refresh_from_db()
    assert acme_provider.instance_wide is False


def test_a_superuser_can_make_a_provider_instance_wide(
    root: User, acme_provider: Provider
) -> None:
    response = login(root).post(
        change_url(acme_provider), form_data(acme_provider, instance_wide="on")
    )
    assert response.status_code == 302
    acme_provider.refresh_from_db()
    assert acme_provider.instance_wide is True


def test_delete_confirmation_lists_dependent_models_and_grants(
    world: World, acme_provider: Provider
) -> None:
    model = AIModelFactory(provider=acme_provider, model_id="gpt-4o", name="GPT-4o")
    GrantFactory(model=model, organization=world.acme, created_by=world.alice)
    client = login(world.alice)
    response = client.get(delete_url(acme_provider))
    assert response.status_code == 200
    assert response.context["perms_lacking"] == set()
    body = response.content.decode()
    assert "GPT-4o" in body
    assert "Grant" in body
    response = client.post(delete_url(acme_provider), {"post": "yes"})
    assert response.status_code == 302
    assert not AIModel.objects.filter(pk=model.pk).exists()
    assert not Grant.objects.exists()
