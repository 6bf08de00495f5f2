"""The visibility rule (models_catalog.visibility): the whole matrix, fail closed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from accounts.models import Membership, Organization, User
from models_catalog.models import AIModel
from models_catalog.visibility import Principal, is_visible, visible_models
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


@dataclass
class Catalog:
    """acme's provider with a private model; globex's provider with one too."""

    acme_provider: Provider
    acme_model: AIModel
    globex_provider: Provider
    globex_model: AIModel


@pytest.fixture
def catalog(world: World) -> Catalog:
    acme_provider = ProviderFactory(organization=world.acme, owner=world.alice)
    globex_provider = ProviderFactory(organization=world.globex, owner=world.charlie)
    return Catalog(
        acme_provider=acme_provider,
        acme_model=AIModelFactory(provider=acme_provider, owner=world.alice),
        globex_provider=globex_provider,
        globex_model=AIModelFactory(provider=globex_provider, owner=world.charlie),
    )


def principal_of(
    who: User | Organization, org: Organization | None = None
) -> Principal:
    """A user acting in ``org`` (their only organization when omitted), or an org."""
    if isinstance(who, Organization):
        return Principal.for_organization(who.pk)
    if org is None:
        org = Membership.objects.get(user=who).organization
    principal = Principal.for_member(who.pk, org.pk)
    assert principal is not None, f"{who} is not a member of {org}"
    return principal


def seen_by(who: User | Organization, org: Organization | None = None) -> set[AIModel]:
    principal = principal_of(who, org)
    models = list(visible_models(principal))
    assert len(models) == len(set(models)), "visible_models returned duplicates"
    for model in models:
        assert is_visible(principal, model)
    return set(models)


def model_on(provider: Provider, **kwargs: Any) -> AIModel:
    return AIModelFactory(provider=provider, **kwargs)


@pytest.fixture
def dan(world: World) -> User:
    """Admin of globex and plain member of acme: two contexts, never mixed."""
    dan = UserFactory(username="dan", is_staff=True)
    MembershipFactory(user=dan, organization=world.globex, role=Membership.Role.ADMIN)
    MembershipFactory(user=dan, organization=world.acme, role=Membership.Role.MEMBER)
    return dan


# Rule 1: O owns it, and U owns it or administers O --------------------------------


def test_a_model_owner_sees_their_model(world: World, catalog: Catalog) -> None:
    bobs = model_on(catalog.acme_provider, owner=world.bob)
    assert bobs in seen_by(world.bob)
    assert catalog.acme_model not in seen_by(world.bob)


def test_a_model_owned_in_another_organization_is_not_visible(
    world: World, catalog: Catalog
) -> None:
    """Ownership counts only inside the organization that owns the model."""
    owned = model_on(catalog.globex_provider, owner=world.bob)
    assert seen_by(world.bob) == set()
    assert owned in seen_by(world.globex)


def test_a_provider_owner_sees_every_model_of_the_provider(
    world: World, catalog: Catalog
) -> None:
    provider = ProviderFactory(organization=world.acme, owner=world.bob)
    models = {model_on(provider), model_on(provider, owner=world.alice)}
    assert seen_by(world.bob) == models


def test_org_admins_see_every_model_their_organization_owns(
    world: World, catalog: Catalog
) -> None:
    provider = ProviderFactory(organization=world.acme, owner=world.bob)
    others = {model_on(provider, owner=world.bob), model_on(catalog.acme_provider)}
    assert seen_by(world.alice) == {catalog.acme_model, *others}


def test_plain_members_do_not_see_ungranted_org_models(
    world: World, catalog: Catalog
) -> None:
    assert seen_by(world.bob) == set()
    GrantFactory(model=catalog.acme_model, organization=world.acme)
    assert seen_by(world.bob) == {catalog.acme_model}


def test_administering_one_organization_shows_nothing_in_another(
    world: World, catalog: Catalog, dan: User
) -> None:
    """Issue 8: a key acted with every membership of its user."""
    assert seen_by(dan, world.globex) == {catalog.globex_model}
    assert seen_by(dan, world.acme) == set()
    GrantFactory(model=catalog.acme_model, organization=world.acme)
    assert seen_by(dan, world.acme) == {catalog.acme_model}
    assert seen_by(dan, world.globex) == {catalog.globex_model}


# Rule 2: a Grant names O ------------------------------------------------------------


def test_an_organization_grant_on_a_model_reaches_every_member(
    world: World, catalog: Catalog
) -> None:
    gina = UserFactory(username="gina")
    MembershipFactory(user=gina, organization=world.globex)
    sibling = model_on(catalog.acme_provider)
    GrantFactory(model=catalog.acme_model, organization=world.globex)
    for who in (world.charlie, gina, world.globex):
        assert catalog.acme_model in seen_by(who)
        assert sibling not in seen_by(who)


def test_an_organization_grant_on_a_provider_reaches_every_member(
    world: World, catalog: Catalog
) -> None:
    gina = UserFactory(username="gina")
    MembershipFactory(user=gina, organization=world.globex)
    sibling = model_on(catalog.acme_provider)
    GrantFactory(model=None, provider=catalog.acme_provider, organization=world.globex)
    for who in (world.charlie, gina, world.globex):
        assert {catalog.acme_model, sibling} <= seen_by(who)


def test_a_user_in_several_organizations_gets_each_ones_grants_only_there(
    world: World, catalog: Catalog
) -> None:
    initech = OrganizationFactory(slug="initech")
    dave = UserFactory(username="dave")
    MembershipFactory(user=dave, organization=world.acme)
    MembershipFactory(user=dave, organization=world.globex)
    initech_provider = ProviderFactory(organization=initech)
    to_acme = model_on(initech_provider)
    to_globex = model_on(initech_provider)
    to_initech_only = model_on(initech_provider)
    GrantFactory(model=to_acme, organization=world.acme)
    GrantFactory(model=to_globex, organization=world.globex)
    GrantFactory(model=to_initech_only, organization=initech)
    assert seen_by(dave, world.acme) == {to_acme}
    assert seen_by(dave, world.globex) == {to_globex}
    assert seen_by(world.bob) == {to_acme}
    assert seen_by(world.charlie) == {to_globex, catalog.globex_model}


def test_a_grant_to_another_user_or_organization_shows_nothing(
    world: World, catalog: Catalog
) -> None:
    GrantFactory(model=catalog.acme_model, user=world.bob)
    initech = OrganizationFactory(slug="initech")
    GrantFactory(model=None, provider=catalog.acme_provider, organization=initech)
    assert seen_by(world.charlie) == {catalog.globex_model}
    assert seen_by(world.globex) == {catalog.globex_model}


# Rule 3: O owns it and a Grant names U -------------------------------------------


def test_a_user_grant_on_a_model_shows_only_that_model(
    world: World, catalog: Catalog
) -> None:
    sibling = model_on(catalog.acme_provider)
    GrantFactory(model=catalog.acme_model, user=world.bob)
    assert seen_by(world.bob) == {catalog.acme_model}
    assert sibling not in seen_by(world.bob)


def test_a_user_grant_on_a_provider_shows_all_its_models(
    world: World, catalog: Catalog
) -> None:
    sibling = model_on(catalog.acme_provider)
    GrantFactory(model=None, provider=catalog.acme_provider, user=world.bob)
    assert seen_by(world.bob) == {catalog.acme_model, sibling}


def test_a_user_grant_counts_only_in_the_organization_that_owns_the_model(
    world: World, catalog: Catalog, dan: User
) -> None:
    """A Grant to U in O does not reach U's key of P (unless rule 2 or 4 says so)."""
    sibling = model_on(catalog.acme_provider)
    GrantFactory(model=catalog.acme_model, user=dan)
    GrantFactory(model=None, provider=catalog.acme_provider, user=world.charlie)
    assert seen_by(dan, world.acme) == {catalog.acme_model}
    assert seen_by(dan, world.globex) == {catalog.globex_model}
    assert seen_by(world.charlie) == {catalog.globex_model}
    assert not {catalog.acme_model, sibling} & seen_by(world.globex)
    # ... unless acme shares it with globex itself (rule 2) or everyone (rule 4).
    GrantFactory(model=catalog.acme_model, organization=world.globex)
    assert seen_by(dan, world.globex) == {catalog.globex_model, catalog.acme_model}
    sibling.instance_wide = True
    sibling.save()
    assert seen_by(world.charlie) == {
        catalog.globex_model,
        catalog.acme_model,
        sibling,
    }


def test_a_user_without_memberships_has_no_context_at_all(
    world: World, catalog: Catalog
) -> None:
    loner = UserFactory(username="loner")
    GrantFactory(model=catalog.globex_model, user=loner)
    assert Principal.for_member(loner.pk, world.globex.pk) is None
    assert Principal.for_member(world.bob.pk, world.globex.pk) is None


# Rule 4: instance-wide -------------------------------------------------------------


def test_an_instance_wide_model_is_visible_to_everyone(
    world: World, catalog: Catalog
) -> None:
    shared = model_on(catalog.acme_provider, instance_wide=True)
    for who in (world.bob, world.charlie, world.globex):
        assert shared in seen_by(who)
    assert catalog.acme_model not in seen_by(world.charlie)


def test_an_instance_wide_provider_shares_all_its_models(
    world: World, catalog: Catalog
) -> None:
    provider = ProviderFactory(organization=world.acme, instance_wide=True)
    models = {model_on(provider), model_on(provider)}
    assert seen_by(world.bob) == models
    assert seen_by(world.charlie) == models | {catalog.globex_model}
    assert seen_by(world.globex) == models | {catalog.globex_model}


# Active model and provider ------------------------------------------------------


def test_an_inactive_model_is_invisible_to_everyone(
    world: World, catalog: Catalog
) -> None:
    model = catalog.acme_model
    model.instance_wide = True
    model.status = AIModel.Status.INACTIVE
    model.save()
    GrantFactory(model=model, user=world.bob)
    GrantFactory(model=model, organization=world.globex)
    for who in (world.alice, world.bob, world.charlie, world.acme, world.globex):
        assert model not in seen_by(who)


def test_an_inactive_provider_hides_its_models_even_when_granted_or_shared(
    world: World, catalog: Catalog
) -> None:
    provider = catalog.acme_provider
    provider.status = Provider.Status.INACTIVE
    provider.instance_wide = True
    provider.owner = world.bob
    provider.save()
    shared = model_on(provider, instance_wide=True, owner=world.bob)
    GrantFactory(model=None, provider=provider, user=world.charlie)
    GrantFactory(model=shared, organization=world.globex)
    for who in (world.alice, world.bob, world.charlie, world.acme, world.globex):
        assert not {catalog.acme_model, shared} & seen_by(who)


# Tenancy -----------------------------------------------------------------------


def test_another_tenants_private_model_is_invisible(
    world: World, catalog: Catalog
) -> None:
    assert seen_by(world.charlie) == {catalog.globex_model}
    assert catalog.globex_model not in seen_by(world.alice)
    assert catalog.globex_model not in seen_by(world.bob)
    principal = principal_of(world.charlie)
    assert not is_visible(principal, catalog.acme_model)
    assert not visible_models(principal).filter(model_id=catalog.acme_model.model_id)


def test_a_service_principal_sees_its_organizations_models_and_grants(
    world: World, catalog: Catalog
) -> None:
    granted = model_on(catalog.globex_provider)
    GrantFactory(model=granted, organization=world.acme)
    to_bob = model_on(catalog.globex_provider)
    GrantFactory(model=to_bob, user=world.bob)  # a member's grant, not the org's
    bobs_own = model_on(catalog.globex_provider, owner=world.bob)
    acme_extra = model_on(ProviderFactory(organization=world.acme))
    assert seen_by(world.acme) == {catalog.acme_model, acme_extra, granted}
    assert not {to_bob, bobs_own} & seen_by(world.acme)
    # globex owns all of these, whoever they were granted to or owned by.
    assert seen_by(world.globex) == {catalog.globex_model, granted, to_bob, bobs_own}


def test_a_service_principal_gets_provider_grants_to_its_organization(
    world: World, catalog: Catalog
) -> None:
    GrantFactory(model=None, provider=catalog.globex_provider, organization=world.acme)
    assert seen_by(world.acme) == {catalog.acme_model, catalog.globex_model}


def test_an_empty_principal_sees_nothing(world: World, catalog: Catalog) -> None:
    model_on(catalog.acme_provider, instance_wide=True)
    assert list(visible_models(Principal())) == []


# Query shape -------------------------------------------------------------------


def test_a_model_matched_by_several_rules_appears_once(
    world: World, catalog: Catalog
) -> None:
    model = catalog.acme_model
    model.instance_wide = True
    model.save()
    catalog.acme_provider.instance_wide = True
    catalog.acme_provider.save()
    GrantFactory(model=model, user=world.alice)
    GrantFactory(model=model, organization=world.acme)
    GrantFactory(model=None, provider=catalog.acme_provider, user=world.alice)
    GrantFactory(model=None, provider=catalog.acme_provider, organization=world.acme)
    for who in (world.alice, world.acme):
        principal = principal_of(who)
        qs = visible_models(principal).filter(pk=model.pk)
        assert qs.count() == 1
        assert len(list(qs)) == 1


@pytest.mark.parametrize("grants", [1, 25])
def test_the_query_count_does_not_grow_with_grants(
    world: World,
    catalog: Catalog,
    grants: int,
    django_assert_num_queries: Any,
) -> None:
    gina = UserFactory(username="gina")
    MembershipFactory(user=gina, organization=world.globex)
    for n in range(grants):
        org = OrganizationFactory(slug=f"extra{n}")
        MembershipFactory(user=gina, organization=org)
        provider = ProviderFactory(organization=org)
        GrantFactory(model=model_on(provider), organization=org)  # not globex's
        GrantFactory(model=None, provider=provider, organization=world.globex)
        GrantFactory(model=model_on(catalog.globex_provider), user=gina)
        GrantFactory(model=model_on(catalog.acme_provider), user=gina)  # not in O

    with django_assert_num_queries(1):
        principal = Principal.for_member(gina.pk, world.globex.pk)
    assert principal is not None
    with django_assert_num_queries(1):
        models = list(visible_models(principal))
    # Per extra org: the model on its provider granted to globex, and the globex
    # model granted to gina.
    assert len(models) == 2 * grants

    with django_assert_num_queries(1):
        list(visible_models(Principal.for_organization(world.globex.pk)))


def test_the_principal_carries_the_role_in_its_organization(
    world: World, dan: User
) -> None:
    assert principal_of(world.alice).is_org_admin
    assert not principal_of(world.bob).is_org_admin
    assert principal_of(dan, world.globex).is_org_admin
    in_acme = principal_of(dan, world.acme)
    assert not in_acme.is_org_admin
    assert in_acme.cache_key == (dan.pk, world.acme.pk)
    assert Principal.for_organization(world.acme.pk).cache_key == (None, world.acme.pk)
