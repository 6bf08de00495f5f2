"""Model and grant admin: scoped to the org admin's organizations, choices included."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from accounts.models import User
from models_catalog.models import AIModel, Grant
from providers.models import Provider
from tests.conftest import World
from tests.factories import (
    AIModelFactory,
    GrantFactory,
    MembershipFactory,
    OrganizationFactory,
    ProviderFactory,
    UserFactory,
)

MODELS_URL = "/admin/models_catalog/aimodel/"
GRANTS_URL = "/admin/models_catalog/grant/"


def login(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def model_data(provider: Provider, **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "provider": provider.pk,
        "name": "GPT-4o",
        "model_id": "gpt-4o",
        "alias": "",
        "model_type": "inference",
        "status": "active",
        "input_cost_per_million": "2.5",
        "output_cost_per_million": "10",
        "context_window": "128000",
        "requests_per_minute": "",
        "model_config_json": "",
        "_save": "Save",
    }
    data.update(overrides)
    return data


@pytest.fixture
def acme_provider(world: World) -> Provider:
    return ProviderFactory(organization=world.acme, name="acme-openai")


@pytest.fixture
def globex_provider(world: World) -> Provider:
    return ProviderFactory(organization=world.globex, name="globex-openai")


@pytest.fixture
def acme_model(acme_provider: Provider) -> AIModel:
    return AIModelFactory(provider=acme_provider, model_id="gpt-4o", name="Acme 4o")


@pytest.fixture
def globex_model(globex_provider: Provider) -> AIModel:
    return AIModelFactory(provider=globex_provider, model_id="gpt-4o", name="Globex 4o")


def test_org_admin_lists_only_their_organizations_models(
    world: World, acme_model: AIModel, globex_model: AIModel
) -> None:
    response = login(world.alice).get(MODELS_URL)
    assert list(response.context["cl"].result_list) == [acme_model]
    body = response.content.decode()
    assert "Acme 4o" in body
    assert "Globex" not in body


def test_another_org_admin_gets_404_on_a_model(
    world: World, acme_model: AIModel
) -> None:
    client = login(world.charlie)
    assert client.get(f"{MODELS_URL}{acme_model.pk}/change/").status_code == 404
    assert client.get(f"{MODELS_URL}{acme_model.pk}/delete/").status_code == 404


def test_a_superuser_sees_every_model(
    acme_model: AIModel, globex_model: AIModel
) -> None:
    root = UserFactory(username="root", is_staff=True, is_superuser=True)
    response = login(root).get(MODELS_URL)
    assert set(response.context["cl"].result_list) == {acme_model, globex_model}


def test_the_provider_choices_offer_only_managed_providers(
    world: World, acme_provider: Provider, globex_provider: Provider
) -> None:
    response = login(world.alice).get(f"{MODELS_URL}add/")
    form = response.context["adminform"].form
    assert list(form.fields["provider"].queryset) == [acme_provider]
    assert "organization" not in form.fields
    assert "globex-openai" not in response.content.decode()


def test_a_new_model_takes_its_organization_from_the_provider(
    world: World, acme_provider: Provider
) -> None:
    response = login(world.alice).post(
        f"{MODELS_URL}add/",
        model_data(acme_provider, model_config_json='{"max_tokens": 4096}'),
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    model = AIModel.objects.get(model_id="gpt-4o")
    assert model.organization == world.acme
    assert model.owner == world.alice
    assert model.source == AIModel.Source.MANUAL
    assert model.get_config() == {"max_tokens": 4096}
    assert "4096" not in str(model.model_config.stored)


def test_a_model_on_another_organizations_provider_is_refused(
    world: World, globex_provider: Provider
) -> None:
    response = login(world.alice).post(f"{MODELS_URL}add/", model_data(globex_provider))
    assert response.status_code == 200
    assert "provider" in response.context["adminform"].form.errors
    assert not AIModel.objects.exists()


def test_the_model_config_is_shown_decrypted_and_resealed_on_save(
    world: World, acme_model: AIModel
) -> None:
    acme_model.seal("model_config", {"temperature": 0.2})
    acme_model.save()
    client = login(world.alice)
    url = f"{MODELS_URL}{acme_model.pk}/change/"
    assert "temperature" in client.get(url).content.decode()
    response = client.post(
        url,
        model_data(
            acme_model.provider,
            name="Renamed",
            model_config_json='{"temperature": 0.7}',
        ),
    )
    assert response.status_code == 302
    acme_model.refresh_from_db()
    assert acme_model.name == "Renamed"
    assert acme_model.get_config() == {"temperature": 0.7}


def test_a_model_config_that_is_not_an_object_is_refused(
    world: World, acme_provider: Provider
) -> None:
    response = login(world.alice).post(
        f"{MODELS_URL}add/", model_data(acme_provider, model_config_json="[1, 2]")
    )
    form = response.context["adminform"].form
    assert form.errors["model_config_json"] == ["Enter a JSON object ({...})."]


def test_an_org_admin_cannot_make_a_model_instance_wide(
    world: World, acme_model: AIModel
) -> None:
    client = login(world.alice)
    url = f"{MODELS_URL}{acme_model.pk}/change/"
    page = client.get(url).content.decode()
    assert 'name="instance_wide"' not in page
    # Said in words, not as a red cross on an ordinary model.
    assert "No (only a superuser can share with the whole instance)." in page
    assert "icon-no.svg" not in page
    response = client.post(url, model_data(acme_model.provider, instance_wide="on"))
    assert response.status_code == 302
    acme_model.refresh_from_db()
    assert acme_model.instance_wide is False


def test_a_superuser_can_make_a_model_instance_wide(acme_model: AIModel) -> None:
    root = UserFactory(username="root", is_staff=True, is_superuser=True)
    response = login(root).post(
        f"{MODELS_URL}{acme_model.pk}/change/",
        model_data(acme_model.provider, instance_wide="on"),
    )
    assert response.status_code == 302
    acme_model.refresh_from_db()
    assert acme_model.instance_wide is True


def test_the_model_list_filters_by_type_and_searches(
    world: World, acme_model: AIModel
) -> None:
    AIModelFactory(
        provider=acme_model.provider,
        model_id="text-embedding-3",
        model_type="embedding",
    )
    client = login(world.alice)
    embeddings = client.get(MODELS_URL, {"model_type__exact": "embedding"})
    assert [m.model_id for m in embeddings.context["cl"].result_list] == [
        "text-embedding-3"
    ]
    found = client.get(MODELS_URL, {"q": "gpt"})
    assert list(found.context["cl"].result_list) == [acme_model]


def test_org_admin_lists_only_grants_on_their_organizations_objects(
    world: World, acme_model: AIModel, globex_model: AIModel
) -> None:
    own = GrantFactory(model=acme_model, user=world.bob)
    GrantFactory(model=globex_model, user=world.charlie)
    response = login(world.alice).get(GRANTS_URL)
    assert list(response.context["cl"].result_list) == [own]
    assert "charlie" not in response.content.decode()


def test_another_org_admin_gets_404_on_a_grant(
    world: World, acme_model: AIModel
) -> None:
    grant = GrantFactory(model=acme_model, user=world.bob)
    client = login(world.charlie)
    assert client.get(f"{GRANTS_URL}{grant.pk}/change/").status_code == 404
    assert client.get(f"{GRANTS_URL}{grant.pk}/delete/").status_code == 404


def test_grant_choices_offer_only_managed_targets_members_and_organizations(
    world: World, acme_model: AIModel, globex_model: AIModel
) -> None:
    outsider = UserFactory(username="mallory")
    MembershipFactory(user=outsider, organization=OrganizationFactory(slug="initech"))
    response = login(world.alice).get(f"{GRANTS_URL}add/")
    fields = response.context["adminform"].form.fields
    assert list(fields["model"].queryset) == [acme_model]
    assert list(fields["provider"].queryset) == [acme_model.provider]
    assert set(fields["user"].queryset) == {world.alice, world.bob}
    assert list(fields["organization"].queryset) == [world.acme]
    body = response.content.decode()
    for leaked in ("charlie", "mallory", "Globex", "Initech", "globex-openai"):
        assert leaked not in body


def test_a_grant_records_who_made_it(world: World, acme_model: AIModel) -> None:
    response = login(world.alice).post(
        f"{GRANTS_URL}add/",
        {"model": acme_model.pk, "user": world.bob.pk, "_save": "Save"},
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    grant = Grant.objects.get()
    assert (grant.model, grant.user, grant.created_by) == (
        acme_model,
        world.bob,
        world.alice,
    )


def test_a_grant_on_another_organizations_model_or_to_an_outsider_is_refused(
    world: World, acme_model: AIModel, globex_model: AIModel
) -> None:
    client = login(world.alice)
    foreign_target = client.post(
        f"{GRANTS_URL}add/",
        {"model": globex_model.pk, "user": world.bob.pk, "_save": "Save"},
    )
    assert "model" in foreign_target.context["adminform"].form.errors
    foreign_user = client.post(
        f"{GRANTS_URL}add/",
        {"model": acme_model.pk, "user": world.charlie.pk, "_save": "Save"},
    )
    assert "user" in foreign_user.context["adminform"].form.errors
    assert not Grant.objects.exists()


def test_a_grant_needs_exactly_one_target(world: World, acme_model: AIModel) -> None:
    response = login(world.alice).post(
        f"{GRANTS_URL}add/",
        {
            "model": acme_model.pk,
            "provider": acme_model.provider_id,
            "organization": world.acme.pk,
            "_save": "Save",
        },
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["provider"] == [
        "Choose a model or a provider, not both: a provider grant already covers "
        "all its models."
    ]
    assert not Grant.objects.exists()


def test_a_user_grant_must_name_a_member_of_the_targets_organization(
    world: World, acme_model: AIModel
) -> None:
    """alice also runs initech: its members are in her choices, but not acme's."""
    initech = OrganizationFactory(slug="initech", name="Initech")
    MembershipFactory(user=world.alice, organization=initech, role="admin")
    mallory = UserFactory(username="mallory")
    MembershipFactory(user=mallory, organization=initech)
    response = login(world.alice).post(
        f"{GRANTS_URL}add/",
        {"model": acme_model.pk, "user": mallory.pk, "_save": "Save"},
    )
    assert response.context["adminform"].form.errors["user"] == [
        "Grant to a member of the organization that owns the model."
    ]
    assert not Grant.objects.exists()
