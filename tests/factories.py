"""factory_boy factories for every model."""

from __future__ import annotations

from decimal import Decimal

import factory
from factory.django import DjangoModelFactory

from accounts.models import Membership, Organization, User
from gateway.models import Budget
from models_catalog.models import AIModel, Grant
from providers.models import Provider


class UserFactory(DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.test")
    password = factory.django.Password("correct horse battery staple")


class OrganizationFactory(DjangoModelFactory):
    class Meta:
        model = Organization
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"org{n}")
    name = factory.LazyAttribute(lambda o: o.slug.title())


class MembershipFactory(DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    organization = factory.SubFactory(OrganizationFactory)
    role = Membership.Role.MEMBER


class ProviderFactory(DjangoModelFactory):
    """A provider; pass ``secrets={...}`` and ``config={...}`` to seal values."""

    class Meta:
        model = Provider
        skip_postgeneration_save = True

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"provider-{n}")
    provider_type = "openai"
    auth_method = "bearer"

    @factory.post_generation
    def secrets(obj: Provider, create: bool, extracted: dict | None, **kw: object):
        obj.seal(
            "credentials",
            extracted if extracted is not None else {"api_key": "sk-test"},
        )
        if create:
            obj.save(update_fields=["credentials"])

    @factory.post_generation
    def config(obj: Provider, create: bool, extracted: dict | None, **kw: object):
        if extracted:
            obj.seal("provider_config", extracted)
            if create:
                obj.save(update_fields=["provider_config"])


class AIModelFactory(DjangoModelFactory):
    class Meta:
        model = AIModel

    provider = factory.SubFactory(ProviderFactory)
    organization = factory.LazyAttribute(lambda m: m.provider.organization)
    model_id = factory.Sequence(lambda n: f"model-{n}")
    name = factory.LazyAttribute(lambda m: m.model_id.title())


class GrantFactory(DjangoModelFactory):
    class Meta:
        model = Grant

    model = factory.SubFactory(AIModelFactory)


class BudgetFactory(DjangoModelFactory):
    """An organization budget of $10 a month; pass ``scope`` and its target."""

    class Meta:
        model = Budget

    organization = factory.SubFactory(OrganizationFactory)
    scope = Budget.Scope.ORGANIZATION
    amount = Decimal("10")
    period = "month"
