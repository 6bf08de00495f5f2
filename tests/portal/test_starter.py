"""The starter model: the platform's OpenAI key, added to an organization in one click.

The fake OpenAI on loopback stands for the platform's vendor: it accepts only
the platform key, so a reply proves the key reached it; every page, answer and
log line of the flow is searched for the key.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client

from accounts.models import Membership, Organization
from gateway import state
from models_catalog.discovery import sync_provider_models
from models_catalog.models import AIModel, Grant
from providers.health import check_provider
from providers.models import Provider
from tests.factories import MembershipFactory, OrganizationFactory, UserFactory
from tests.gateway.conftest import (  # noqa: F401  (fixtures used here)
    LiveGateway,
    _uvicorn,
    gateway,
)
from tests.gateway.upstreams import Upstream, start
from tests.portal.test_playground_chat import Site, events, hello, session_for

PLATFORM_KEY = "sk-test-key"  # what the fake OpenAI accepts


class Captured(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def logs() -> Iterator[Captured]:
    handler = Captured()
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield handler
    root.removeHandler(handler)
    root.setLevel(level)


@pytest.fixture
def platform(settings: Any) -> Iterator[Upstream]:
    with start("openai") as served:
        settings.STARTER_OPENAI_API_KEY = PLATFORM_KEY
        settings.STARTER_OPENAI_BASE_URL = served.server.url + "/v1"
        settings.STARTER_MODEL = "gpt-4o-mini"
        yield served


def admin_of(org: Organization, username: str = "ann") -> Any:
    user = UserFactory(username=username)
    MembershipFactory(user=user, organization=org, role=Membership.Role.ADMIN)
    return user


def signed_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_an_org_admin_adds_the_starter_and_members_chat_on_the_platform_key(
    gateway: LiveGateway,  # noqa: F811
    platform: Upstream,
    logs: Captured,
) -> None:
    acme = OrganizationFactory(slug="acme", name="Acme")
    ann = admin_of(acme)
    bob = UserFactory(username="bob")
    MembershipFactory(user=bob, organization=acme, role=Membership.Role.MEMBER)
    client = signed_in(ann)

    page = client.get("/playground/")
    assert b"Add starter playground LLM" in page.content
    assert client.post("/playground/starter").status_code == 302
    # A second click (another tab) changes nothing.
    assert client.post("/playground/starter").status_code == 302
    [provider] = Provider.objects.filter(organization=acme)
    assert provider.starter and provider.provider_type == "openai"
    assert provider.get_credentials() == {}  # nothing of the key is stored
    assert provider.endpoint == ""
    [model] = AIModel.objects.filter(provider=provider)
    assert model.model_id == "gpt-4o-mini"
    assert Grant.objects.filter(model=model, organization=acme).exists()
    assert b"Add starter playground LLM" not in client.get("/playground/").content

    # A member of the organization chats with it; the key reaches the vendor.
    site = Site(gateway.url, session_for(bob))
    page_text = site.get("/playground/").text
    assert 'value="starter/gpt-4o-mini"' in page_text
    answer = site.chat(**hello(model="starter/gpt-4o-mini"))
    assert answer.status_code == 200
    assert events(answer)[-1]["usage"]["completion_tokens"] == 7
    assert platform.requests[-1]["headers"]["Authorization"] == f"Bearer {PLATFORM_KEY}"

    # Health and discovery work on it; discovery confirms the starter model
    # and never adds the vendor's catalogue on the platform's key.
    assert check_provider(provider).health == Provider.Health.AVAILABLE
    sync_provider_models(provider)
    assert list(
        AIModel.objects.filter(provider=provider).values_list("model_id", "status")
    ) == [("gpt-4o-mini", AIModel.Status.ACTIVE)]

    # Its endpoint cannot send the key elsewhere: a stored one is ignored.
    Provider.objects.filter(pk=provider.pk).update(endpoint="http://127.0.0.2:9/v1")
    state.reset_for_tests()
    assert site.chat(**hello(model="starter/gpt-4o-mini")).status_code == 200

    ann.is_staff = True
    ann.save()
    admin_pages = [
        client.get(f"/admin/providers/provider/{provider.pk}/change/"),
        client.get("/admin/providers/provider/"),
    ]
    assert [p.status_code for p in admin_pages] == [200, 200]
    change_form = admin_pages[0].content.decode()
    assert "platform&#x27;s starter key" in change_form or "starter key" in change_form
    assert 'name="endpoint"' not in change_form
    assert 'name="api_key"' not in change_form
    answers = [*site.answers, *(p.content.decode() for p in admin_pages)]
    for text in [*answers, *logs.lines]:
        assert PLATFORM_KEY not in text


def test_only_an_admin_of_the_sites_organization_can_add_it(
    gateway: LiveGateway,  # noqa: F811
    platform: Upstream,
) -> None:
    acme = OrganizationFactory(slug="acme", name="Acme")
    globex = OrganizationFactory(slug="globex", name="Globex")
    bob = UserFactory(username="bob")
    MembershipFactory(user=bob, organization=acme, role=Membership.Role.MEMBER)
    member = signed_in(bob)
    assert b"Add starter" not in member.get("/playground/").content
    assert member.post("/playground/starter").status_code == 404

    # An admin of acme (member of globex) adds it to the organization the site
    # acts in, never to another.
    ann = admin_of(acme)
    MembershipFactory(user=ann, organization=globex, role=Membership.Role.MEMBER)
    client = signed_in(ann)
    client.post("/organization/", {"organization": "globex"})
    assert client.post("/playground/starter").status_code == 404
    assert not Provider.objects.exists()
    client.post("/organization/", {"organization": "acme"})
    assert client.post("/playground/starter").status_code == 302
    assert list(Provider.objects.values_list("organization__slug", flat=True)) == [
        "acme"
    ]


def test_the_admin_button_is_scoped_to_the_admins_organizations(
    gateway: LiveGateway,  # noqa: F811
    platform: Upstream,
) -> None:
    acme = OrganizationFactory(slug="acme", name="Acme")
    initech = OrganizationFactory(slug="initech", name="Initech")
    globex = OrganizationFactory(slug="globex", name="Globex")
    ann = admin_of(acme)
    MembershipFactory(user=ann, organization=initech, role=Membership.Role.ADMIN)
    ann.is_staff = True
    ann.save()
    client = signed_in(ann)
    listing = client.get("/admin/providers/provider/").content.decode()
    assert "Add starter playground LLM" in listing
    assert "Initech" in listing and "Globex" not in listing

    url = "/admin/models_catalog/aimodel/add-starter/"
    assert client.post(url, {"organization": globex.pk}).status_code == 404
    assert client.post(url, {"organization": 999999}).status_code == 404
    assert client.get(url).status_code == 405
    assert not Provider.objects.exists()
    assert client.post(url, {"organization": initech.pk}).status_code == 302
    assert client.post(url, {"organization": initech.pk}).status_code == 404
    assert list(Provider.objects.values_list("organization__slug", flat=True)) == [
        "initech"
    ]
    # Removable like any provider: deleting it takes its model along.
    provider = Provider.objects.get()
    client.post(f"/admin/providers/provider/{provider.pk}/delete/", {"post": "yes"})
    assert not Provider.objects.exists()
    assert not AIModel.objects.exists()


def test_without_the_platform_key_nothing_is_offered_and_calls_fail_clearly(
    gateway: LiveGateway,  # noqa: F811
    platform: Upstream,
    settings: Any,
) -> None:
    acme = OrganizationFactory(slug="acme", name="Acme")
    ann = admin_of(acme)
    client = signed_in(ann)
    client.post("/playground/starter")
    provider = Provider.objects.get(starter=True)

    settings.STARTER_OPENAI_API_KEY = ""
    state.reset_for_tests()
    assert b"Add starter" not in client.get("/playground/").content
    result = check_provider(provider)
    assert result.health == Provider.Health.FAILED
    assert "platform key" in result.message and "not configured" in result.message

    site = Site(gateway.url, session_for(ann))
    answer = site.chat(**hello(model="starter/gpt-4o-mini"))
    assert answer.status_code == 502
    assert "not configured" in answer.json()["error"]["message"]
    assert platform.requests == []


@pytest.mark.django_db
def test_the_platform_decides_the_starter_model_and_its_prices(
    platform: Upstream,
) -> None:
    """Found in review: an org admin could point the starter model at any
    OpenAI model, price it at 0 or add models under the starter provider, all
    paid by the platform's key."""
    from models_catalog.starter import add_starter

    acme = OrganizationFactory(slug="acme", name="Acme")
    ann = admin_of(acme)
    ann.is_staff = True
    ann.save()
    provider, _ = add_starter(acme, ann)
    model = provider.models.get()
    own = Provider.objects.create(
        organization=acme, name="own", provider_type="openai", auth_method="none"
    )
    client = signed_in(ann)

    change = f"/admin/models_catalog/aimodel/{model.pk}/change/"
    form = client.get(change).content.decode()
    for field in ("model_id", "input_cost_per_million", "provider"):
        assert f'name="{field}"' not in form
    answer = client.post(
        change,
        {
            "provider": own.pk,
            "name": "cheap",
            "model_id": "o1-pro",
            "model_type": "inference",
            "status": "active",
            "input_cost_per_million": "0",
            "output_cost_per_million": "0",
        },
    )
    assert answer.status_code == 302
    model.refresh_from_db()
    assert (model.provider_id, model.model_id) == (provider.pk, "gpt-4o-mini")
    assert (model.input_cost_per_million, model.output_cost_per_million) != (0, 0)
    assert model.name == "cheap"  # what is the organization's stays editable

    add = "/admin/models_catalog/aimodel/add/"
    assert f'value="{provider.pk}"' not in client.get(add).content.decode()
    answer = client.post(
        add,
        {
            "provider": provider.pk,
            "name": "extra",
            "model_id": "gpt-4.5-preview",
            "model_type": "inference",
            "status": "active",
            "input_cost_per_million": "0",
            "output_cost_per_million": "0",
        },
    )
    assert answer.status_code == 200
    assert list(provider.models.values_list("model_id", flat=True)) == ["gpt-4o-mini"]
    assert (
        'name="activate_discovered"'
        not in client.get(
            f"/admin/providers/provider/{provider.pk}/change/"
        ).content.decode()
    )


@pytest.mark.django_db
def test_the_starter_is_not_shared_with_another_organization(
    platform: Upstream,
) -> None:
    """Found in review: a grant could share the platform's key with any
    organization (org admins choose only their own organizations as grantees;
    a superuser chooses any)."""
    from models_catalog.starter import add_starter

    acme = OrganizationFactory(slug="acme", name="Acme")
    globex = OrganizationFactory(slug="globex", name="Globex")
    ann = admin_of(acme)
    ann.is_staff = True
    ann.save()
    provider, _ = add_starter(acme, ann)
    model = provider.models.get()
    client = signed_in(UserFactory(username="root", is_staff=True, is_superuser=True))
    grants = Grant.objects.count()
    for target in ({"model": model.pk}, {"provider": provider.pk}):
        answer = client.post(
            "/admin/models_catalog/grant/add/", {**target, "organization": globex.pk}
        )
        assert answer.status_code == 200
        assert "for its own organization only" in answer.content.decode()
    assert Grant.objects.count() == grants
