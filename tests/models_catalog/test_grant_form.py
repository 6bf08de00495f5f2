"""The grant form explains itself: clear errors, labelled active models, help."""

from __future__ import annotations

from typing import Any

import pytest

from models_catalog.models import AIModel, Grant
from providers.models import Provider
from tests.conftest import World
from tests.factories import AIModelFactory, GrantFactory, ProviderFactory
from tests.models_catalog.test_admin import GRANTS_URL, login

ADD = f"{GRANTS_URL}add/"


@pytest.fixture
def provider(world: World) -> Provider:
    return ProviderFactory(organization=world.acme, name="acme-openai")


@pytest.fixture
def model(provider: Provider) -> AIModel:
    return AIModelFactory(provider=provider, model_id="gpt-4o", name="GPT-4o")


def errors_of(world: World, data: dict[str, Any]) -> dict[str, list[str]]:
    response = login(world.alice).post(ADD, {**data, "_save": "Save"})
    assert response.status_code == 200  # shown again, not saved
    form = response.context["adminform"].form
    body = response.content.decode()
    assert "grant_exactly" not in body and "grant_unique" not in body
    assert "Constraint" not in body
    return {k: list(v) for k, v in form.errors.items()}


def test_an_empty_grant_says_what_to_choose(world: World, model: AIModel) -> None:
    assert errors_of(world, {}) == {
        "model": [
            "Choose the model to share (or a provider, to share all its models)."
        ],
        "organization": [
            "Choose who gets access: an organization (all its members) or one user."
        ],
    }
    assert not Grant.objects.exists()


def test_doubled_choices_are_named(
    world: World, model: AIModel, provider: Provider
) -> None:
    errors = errors_of(
        world,
        {
            "model": model.pk,
            "provider": provider.pk,
            "organization": world.acme.pk,
            "user": world.bob.pk,
        },
    )
    assert errors == {
        "provider": [
            "Choose a model or a provider, not both: a provider grant already "
            "covers all its models."
        ],
        "user": ["Choose an organization or a user, not both."],
    }
    assert not Grant.objects.exists()


def test_a_second_grant_of_the_same_thing_is_explained(
    world: World, model: AIModel
) -> None:
    GrantFactory(model=model, organization=world.acme)
    errors = errors_of(world, {"model": model.pk, "organization": world.acme.pk})
    assert errors == {"__all__": ["This is already shared with them."]}


def test_model_choices_are_active_and_say_which_provider(
    world: World, model: AIModel, provider: Provider
) -> None:
    other = ProviderFactory(organization=world.acme, name="acme-azure")
    AIModelFactory(provider=other, model_id="gpt-4o", name="GPT-4o")
    AIModelFactory(provider=provider, model_id="o3", name="", status="inactive")
    AIModelFactory(provider=provider, model_id="gpt-4o-mini", name="")
    response = login(world.alice).get(ADD)
    field = response.context["adminform"].form.fields["model"]
    labels = [label for _, label in field.choices][1:]
    assert labels == [
        "acme-azure / gpt-4o (GPT-4o)",
        "acme-openai / gpt-4o (GPT-4o)",
        "acme-openai / gpt-4o-mini",
    ]
    body = response.content.decode()
    assert "Those it names see the model in their model list and may call it" in body
    assert "Share with a whole organization" in body


def test_an_existing_grant_keeps_its_deactivated_model(
    world: World, model: AIModel
) -> None:
    grant = GrantFactory(model=model, organization=world.acme)
    model.status = "inactive"
    model.save()
    response = login(world.alice).get(f"{GRANTS_URL}{grant.pk}/change/")
    field = response.context["adminform"].form.fields["model"]
    assert [label for _, label in field.choices][1:] == [
        "acme-openai / gpt-4o (GPT-4o)"
    ]
