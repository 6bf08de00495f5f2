"""The isolation matrix: two organizations on every admin view, user page and /v1 route.

acme (alice admin, bob member) and globex (charlie admin) each own a private
provider and models whose names carry a marker (``zqacme``, ``zqglobex``); dan
administers globex and is a plain member of acme. Every cell signs in (or uses
a key) as one organization's principal and checks the answer for the other
organization's markers: its objects' names, its name and slug, and the users
who belong to it alone. Other-organization objects must answer 404 (403 where
the whole page is forbidden), and on ``/v1`` another tenant's model name must
be answered exactly like a name that does not exist.

The admin URLs are enumerated from ``admin.site._registry`` (changelist, its
search, every list-filter choice, every action, add with another tenant's
choices posted, change / delete / history of each of the other tenant's
objects, the autocomplete endpoint for every relation), so a new admin is in
the matrix without editing this file. Run with ``-s`` to see the cell counts.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from itertools import islice
from typing import Any
from urllib.parse import quote, quote_plus

import httpx
import pytest
from django import forms
from django.contrib import admin
from django.db.models import Model, Q
from django.test import Client
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from accounts.invitations import hash_token
from accounts.models import Invitation, Membership, Organization, User
from api.models import ManagementToken
from gateway import response_store, usage
from gateway.budgets.webhooks import ensure_secret
from gateway.models import (
    AlertSent,
    AlertSettings,
    ApiKey,
    Budget,
    StoredResponse,
    UsageRecord,
)
from gateway.responses.ids import new_id
from models_catalog.models import AIModel, Grant
from providers.models import HealthEvent, Provider
from tests.conftest import World
from tests.factories import OrganizationFactory, UserFactory
from tests.fakes import openai as fake_openai
from tests.fakes.server import FakeServer, serve
from tests.gateway import conftest as live_gateway

pytestmark = pytest.mark.django_db

# The live gateway (a real uvicorn) of tests/gateway, for the /v1 cells.
_uvicorn = live_gateway._uvicorn
gateway = live_gateway.gateway


@dataclass
class Tenant:
    org: Organization
    marker: str
    provider: Provider
    chat: AIModel  # granted to the organization: every member may call it
    private: AIModel  # not granted: admins (and a user grant) only
    embed: AIModel  # granted to the organization
    only_users: list[str]  # usernames that belong to this organization alone
    server: FakeServer | None = None

    def probe_names(self) -> list[str]:
        """Every name another tenant might try: ids, alias, pinned provider."""
        return [
            self.chat.model_id,
            self.chat.alias,
            self.private.model_id,
            self.embed.model_id,
            f"{self.provider.name}/{self.chat.model_id}",
        ]

    def patterns(self, *, names_allowed: bool = False) -> list[re.Pattern[str]]:
        """What must never appear to the other tenant.

        ``names_allowed``: the viewer is also a member here (dan on the site), so
        the organization's own name may appear in the organization switcher.
        """
        found = [re.compile(self.marker, re.IGNORECASE)]
        if not names_allowed:
            found.append(re.compile(rf"\b{self.org.slug}\b", re.IGNORECASE))
            found.append(re.compile(rf"\b{re.escape(self.org.name)}\b"))
            found += [re.compile(rf"\b{name}\b") for name in self.only_users]
        return found


@dataclass
class Matrix:
    acme: Tenant
    globex: Tenant
    dan: User
    keys: dict[str, tuple[ApiKey, str]] = field(default_factory=dict)
    cells: int = 0
    leaks: list[str] = field(default_factory=list)

    def check(self, where: str, text: str, patterns: list[re.Pattern[str]]) -> None:
        """One cell: the answer names nothing of the other tenant."""
        self.cells += 1
        for pattern in patterns:
            match = pattern.search(text)
            if match:
                around = text[max(match.start() - 60, 0) : match.end() + 60]
                self.leaks.append(f"{where}: {pattern.pattern!r} in …{around}…")

    def expect(self, where: str, ok: bool, detail: str = "") -> None:
        """One cell: a status or state that must hold (a failed one is a leak)."""
        self.cells += 1
        if not ok:
            self.leaks.append(f"{where}: {detail}")


def _tenant(org: Organization, marker: str, owner: User, users: list[str]) -> Tenant:
    provider = Provider(
        organization=org,
        owner=owner,
        name=f"{marker}-provider",
        provider_type="openai",
        endpoint="http://127.0.0.1:9/v1",  # replaced by the fake's URL for /v1
        auth_method="bearer",
    )
    provider.seal("credentials", {"api_key": f"sk-{marker}-credential"})
    provider.save()

    def model(model_id: str, **fields: Any) -> AIModel:
        return AIModel.objects.create(
            provider=provider,
            organization=org,
            owner=owner,
            model_id=model_id,
            name=f"{marker} {model_id} display",
            **fields,
        )

    chat = model(f"{marker}-chat", alias=f"{marker}-alias")
    private = model(f"{marker}-private")
    embed = model(f"{marker}-embed", model_type=AIModel.ModelType.EMBEDDING)
    Grant.objects.create(model=chat, organization=org)
    Grant.objects.create(model=embed, organization=org)
    HealthEvent.objects.create(
        provider=provider, from_health="unknown", to_health="available", message=marker
    )
    Invitation.objects.create(
        organization=org,
        email=f"{marker}-invitee@example.test",
        invited_by=owner,
        token_hash=hash_token(f"{marker}-invitation-token"),
        expires_at=timezone.now() + timedelta(days=7),
    )
    # Spend alerts: where they go (with a secret) and one that was sent.
    alerts = AlertSettings(
        organization=org, webhook_url=f"https://{marker}.example.test/hook"
    )
    ensure_secret(alerts)
    alerts.save()
    budget = Budget.objects.create(
        organization=org, scope="organization", amount=Decimal(1)
    )
    AlertSent.objects.create(
        organization=org,
        kind="threshold",
        budget=budget,
        subject=str(budget.pk),
        period_start=budget.current_period()[0],
        threshold=50,
        webhook_status=f"attempt 1: HTTP 200 {marker}",
    )
    return Tenant(org, marker, provider, chat, private, embed, users)


@pytest.fixture
def matrix(world: World) -> Matrix:
    dan = UserFactory(username="dan", is_staff=True)
    Membership.objects.create(
        user=dan, organization=world.globex, role=Membership.Role.ADMIN
    )
    Membership.objects.create(
        user=dan, organization=world.acme, role=Membership.Role.MEMBER
    )
    acme = _tenant(world.acme, "zqacme", world.alice, ["alice", "bob"])
    globex = _tenant(world.globex, "zqglobex", world.charlie, ["charlie"])
    # Rule 3 inside acme: dan may use acme's private model there, never in globex.
    Grant.objects.create(model=acme.private, user=dan)
    m = Matrix(acme, globex, dan)
    for label, org, user in [
        ("alice@acme", world.acme, world.alice),
        ("bob@acme", world.acme, world.bob),
        ("dan@acme", world.acme, dan),
        ("service@acme", world.acme, None),
        ("charlie@globex", world.globex, world.charlie),
        ("dan@globex", world.globex, dan),
        ("service@globex", world.globex, None),
    ]:
        marker = acme.marker if org == world.acme else globex.marker
        m.keys[label] = ApiKey.issue(
            organization=org, user=user, name=f"{label.split('@')[0]}-{marker}-key"
        )
    for tenant in (acme, globex):
        key = m.keys[f"service@{tenant.org.slug}"][0]
        UsageRecord.objects.create(
            organization=tenant.org,
            api_key=key,
            provider=tenant.provider,
            model=tenant.chat,
            endpoint="chat",
            model_name=tenant.chat.model_id,
            status_code=200,
        )
    # Budgets on each kind of target: the admin, the home pages and the key
    # lists show them with their spend (their labels carry the markers).
    for tenant, owner in ((acme, world.alice), (globex, world.charlie)):
        key = m.keys[f"service@{tenant.org.slug}"][0]
        for scope, target in [
            ("organization", {}),
            ("user", {"user": owner}),
            ("key", {"api_key": key}),
            ("model", {"model": tenant.chat}),
            ("provider", {"provider": tenant.provider}),
        ]:
            Budget.objects.create(
                organization=tenant.org, scope=scope, amount=Decimal("7"), **target
            )
    # Management tokens: the admin page lists, shows and revokes them per tenant.
    ManagementToken.issue(world.acme, world.alice, f"{acme.marker}-token", "admin")
    ManagementToken.issue(
        world.globex, world.charlie, f"{globex.marker}-token", "admin"
    )
    return m


def _assert_clean(m: Matrix, surface: str) -> None:
    print(f"\nisolation matrix: {m.cells} {surface} cells, {len(m.leaks)} leaks")
    assert m.leaks == [], "\n".join(m.leaks[:50])


# -- The admin ------------------------------------------------------------------


def _objects_of(model: type[Model], tenant: Tenant) -> list[Model]:
    """The tenant's rows of ``model``; every admin model must be covered."""
    org = tenant.org
    if model is Organization:
        return [org]
    if model is User:
        return list(User.objects.filter(username__in=tenant.only_users))
    if model is Grant:
        return list(
            Grant.objects.filter(
                Q(model__organization=org) | Q(provider__organization=org)
            )
        )
    if model is HealthEvent:
        return list(HealthEvent.objects.filter(provider__organization=org))
    names = {f.name for f in model._meta.get_fields()}
    if "organization" in names:
        return list(model._default_manager.filter(organization=org))
    if model._meta.app_label in ("auth", "axes"):
        # Group, and django-axes' sign-in logs: no tenant owns one; the admin
        # shows them to superusers only (org admins hold no model permissions).
        return []
    raise AssertionError(f"the matrix does not know how {model} belongs to a tenant")


def _snapshot() -> dict[str, list[dict[str, Any]]]:
    """Every tenant row, to prove the admin matrix changed nothing."""
    volatile = {"last_login", "updated_at", "last_used_at"}
    snap = {}
    for model in (
        Organization,
        Membership,
        Invitation,
        User,
        Provider,
        AIModel,
        Grant,
        ApiKey,
        Budget,
        AlertSettings,
        AlertSent,
    ):
        rows = model._default_manager.order_by("pk").values()
        snap[model._meta.label] = [
            {k: v for k, v in row.items() if k not in volatile} for row in rows
        ]
    return snap


def _hostile_form_data(form: forms.BaseForm, other: Tenant) -> dict[str, Any]:
    """The add form filled with the other tenant's objects wherever one fits."""
    data: dict[str, Any] = {}
    for name, formfield in form.fields.items():
        if isinstance(formfield, forms.ModelChoiceField):
            target = _objects_of(formfield.queryset.model, other)
            data[name] = target[0].pk if target else ""
        elif name == "user":  # the membership form names users by username
            data[name] = other.only_users[0]
        elif isinstance(formfield, forms.ChoiceField) and formfield.choices:
            choices = [c for c, _ in formfield.choices if c not in ("", None)]
            data[name] = choices[0] if choices else ""
        elif isinstance(formfield, forms.BooleanField):
            continue
        elif isinstance(formfield, (forms.IntegerField, forms.DecimalField)):
            data[name] = "1"
        else:
            data[name] = "x-hostile"
    return data


def _relation_fields(model: type[Model]) -> list[str]:
    """Forward relations to models the admin serves (others have no lookup)."""
    return [
        f.name
        for f in model._meta.get_fields()
        if f.is_relation
        and (f.many_to_one or f.many_to_many)
        and f.concrete
        and admin.site.is_registered(f.related_model)
    ]


def _admin_cells(m: Matrix, client: Client, viewer: str, other: Tenant) -> None:
    patterns = other.patterns()
    admin_index = reverse("admin:index")
    admin_login = reverse("admin:login")

    def unechoed(response: Any, sent: dict[str, Any]) -> str:
        """The answer without what was typed into it (a form shows that back)."""
        text = response.content.decode()
        for value in sent.values():
            if isinstance(value, str) and len(value) > 2:
                for form in (value, quote(value), quote_plus(value)):
                    text = text.replace(form, "<SENT>")
        return text

    def get(url: str, **params: Any) -> Any:
        response = client.get(url, params)
        m.check(f"{viewer} GET {url} {params}", unechoed(response, params), patterns)
        return response

    def post(url: str, data: dict[str, Any]) -> Any:
        response = client.post(url, data)
        m.check(f"{viewer} POST {url}", unechoed(response, data), patterns)
        return response

    def refused(where: str, response: Any) -> None:
        ok = response.status_code in (403, 404) or (
            response.status_code == 302
            and (
                response["Location"] == admin_index
                or response["Location"].startswith(admin_login)
            )
        )
        m.expect(where, ok, f"answered {response.status_code}")

    get(admin_index)
    for model, model_admin in admin.site._registry.items():
        app, name = model._meta.app_label, model._meta.model_name
        get(reverse("admin:app_list", kwargs={"app_label": app}))
        changelist = reverse(f"admin:{app}_{name}_changelist")
        response = get(changelist)
        for term in (other.marker, other.org.name):
            found = get(changelist, q=term)
            if found.status_code == 200 and "cl" in found.context:
                m.expect(
                    f"{viewer} search {app}.{name} for {term}",
                    found.context["cl"].result_count == 0,
                    "found another tenant's rows",
                )
        if response.status_code == 200 and "cl" in response.context:
            cl = response.context["cl"]
            for spec in cl.filter_specs:
                for choice in spec.choices(cl):
                    m.check(
                        f"{viewer} filter {app}.{name}.{spec.title}",
                        str(choice.get("display", "")),
                        patterns,
                    )
                    get(changelist + choice["query_string"])
            # Point every relation filter at the other tenant's objects.
            for rel in _relation_fields(model):
                related = model._meta.get_field(rel).related_model
                for obj in _objects_of(related, other)[:2]:
                    get(changelist, **{f"{rel}__id__exact": obj.pk})
            # Every action, aimed at the other tenant's rows.
            targets = [o.pk for o in _objects_of(model, other)]
            action_form = response.context.get("action_form")
            if action_form is not None and targets:
                for action, _label in action_form.fields["action"].choices:
                    if action:
                        post(
                            changelist,
                            {
                                "action": action,
                                "_selected_action": targets,
                                "post": "yes",
                                "index": 0,
                            },
                        )
        try:
            add_url = reverse(f"admin:{app}_{name}_add")
        except NoReverseMatch:
            add_url = ""
        if add_url:
            response = get(add_url)
            adminform = getattr(response, "context", None) and response.context.get(
                "adminform"
            )
            if response.status_code == 200 and adminform is not None:
                before = model._default_manager.count()
                post(add_url, _hostile_form_data(adminform.form, other))
                m.expect(
                    f"{viewer} hostile add {app}.{name}",
                    model._default_manager.count() == before,
                    "a row was created from another tenant's choices",
                )
        for obj in _objects_of(model, other):
            pk = obj.pk
            for view, method in [
                ("change", "get"),
                ("change", "post"),
                ("delete", "get"),
                ("delete", "post"),
                ("history", "get"),
            ]:
                url = reverse(f"admin:{app}_{name}_{view}", args=[pk])
                response = get(url) if method == "get" else post(url, {"post": "yes"})
                refused(f"{viewer} {method.upper()} {url}", response)
            if model is User:
                url = reverse("admin:auth_user_password_change", args=[pk])
                refused(f"{viewer} GET {url}", get(url))
        for rel in _relation_fields(model):
            url = reverse("admin:autocomplete")
            for term in ("", other.marker, other.org.name[:3]):
                response = get(
                    url, app_label=app, model_name=name, field_name=rel, term=term
                )
                m.expect(
                    f"{viewer} autocomplete {app}.{name}.{rel}",
                    response.status_code in (403, 404)
                    or other.marker not in response.content.decode(),
                )


def test_no_admin_view_filter_choice_or_autocomplete_names_another_tenant(
    matrix: Matrix, world: World
) -> None:
    m = matrix
    before = _snapshot()
    for viewer, user, other in [
        ("alice", world.alice, m.globex),
        ("charlie", world.charlie, m.acme),
        ("dan", m.dan, m.acme),  # admin of globex; acme member only
        ("bob", world.bob, m.globex),  # not staff: bounced to the login page
    ]:
        client = Client()
        client.force_login(user)
        _admin_cells(m, client, viewer, other)
    assert _snapshot() == before, "the admin matrix changed another tenant's rows"
    _assert_clean(m, "admin")
    assert m.cells > 500  # the registry was really walked


def test_the_key_and_usage_filters_name_only_the_admins_organizations(
    matrix: Matrix, world: World
) -> None:
    """Issue 8: both changelists offered every organization to org admins.

    alice runs a second organization, so the filter has two choices to show
    (Django hides a filter with a single choice).
    """
    initech = OrganizationFactory(slug="initech", name="Initech")
    Membership.objects.create(
        user=world.alice, organization=initech, role=Membership.Role.ADMIN
    )
    key, _ = ApiKey.issue(organization=initech, user=None, name="initech-key")
    UsageRecord.objects.create(
        organization=initech, api_key=key, endpoint="chat", model_name="m",
        status_code=200,
    )  # fmt: skip
    client = Client()
    client.force_login(world.alice)
    for url in ["/admin/gateway/apikey/", "/admin/gateway/usagerecord/"]:
        response = client.get(url)
        cl = response.context["cl"]
        offered = {
            str(choice["display"])
            for spec in cl.filter_specs
            if str(spec.title) == "organization"
            for choice in spec.choices(cl)
        }
        assert offered == {"All", "Acme Corp", "Initech"}, url
        assert "Globex" not in response.content.decode()


# -- The user pages -------------------------------------------------------------


def test_no_user_page_shows_another_organizations_models_or_keys(
    matrix: Matrix, world: World
) -> None:
    m = matrix
    contexts = [
        # (label, user, organization chosen on the site, the other tenant, is dan)
        ("alice", world.alice, m.acme, m.globex),
        ("bob", world.bob, m.acme, m.globex),
        ("charlie", world.charlie, m.globex, m.acme),
        ("dan@acme", m.dan, m.acme, m.globex),
        ("dan@globex", m.dan, m.globex, m.acme),
    ]
    for label, user, own, other in contexts:
        member_of_other = user == m.dan
        patterns = other.patterns(names_allowed=member_of_other)
        client = Client()
        client.force_login(user)
        chosen = client.post("/organization/", {"organization": own.org.slug})
        m.expect(f"{label} choose {own.org.slug}", chosen.status_code == 302)
        if not member_of_other:
            refused = client.post("/organization/", {"organization": other.org.slug})
            m.expect(f"{label} choose other", refused.status_code == 404)
            m.check(f"{label} choose other", refused.content.decode(), patterns)
        for url in ["/", "/models/", "/keys/"]:
            response = client.get(url)
            m.expect(f"{label} GET {url}", response.status_code == 200)
            m.check(f"{label} GET {url}", response.content.decode(), patterns)
        models_page = client.get("/models/").content.decode()
        m.expect(
            f"{label} sees its organization's shared model",
            own.chat.model_id in models_page,
            "own model missing (the control failed)",
        )
        created = client.post("/keys/", {"name": f"page-{label}"})
        m.check(f"{label} POST /keys/", created.content.decode(), patterns)
        m.expect(
            f"{label} key made in its organization",
            ApiKey.objects.get(name=f"page-{label}").organization == own.org,
        )
        for key in ApiKey.objects.filter(organization=other.org):
            response = client.post(f"/keys/{key.pk}/revoke")
            m.expect(f"{label} revoke {key.name}", response.status_code == 404)
            m.check(f"{label} revoke", response.content.decode(), patterns)
    m.expect(
        "no key of either tenant was revoked from the pages",
        not ApiKey.objects.filter(revoked_at__isnull=False).exists(),
    )
    _assert_clean(m, "page")


# -- /v1 --------------------------------------------------------------------------


def _normalized(response: httpx.Response, name: str) -> tuple[int, str]:
    return response.status_code, response.text.replace(name, "<NAME>")


def _v1_calls(
    http: httpx.Client, secret: str, name: str
) -> Iterator[tuple[str, httpx.Response]]:
    auth = {"Authorization": f"Bearer {secret}"}
    messages = [{"role": "user", "content": "hi"}]
    yield "GET /v1/models/<name>", http.get(f"/v1/models/{name}", headers=auth)
    for stream in (False, True):
        yield (
            f"POST /v1/chat/completions stream={stream}",
            http.post(
                "/v1/chat/completions",
                json={"model": name, "messages": messages, "stream": stream},
                headers=auth,
            ),
        )
    for stream in (False, True):
        yield (
            f"POST /v1/completions stream={stream}",
            http.post(
                "/v1/completions",
                json={"model": name, "prompt": "hi", "stream": stream},
                headers=auth,
            ),
        )
    yield (
        "POST /v1/embeddings",
        http.post("/v1/embeddings", json={"model": name, "input": "x"}, headers=auth),
    )
    rerank = {"model": name, "query": "q", "documents": ["d"]}
    yield "POST /v1/rerank", http.post("/v1/rerank", json=rerank, headers=auth)
    # Anthropic's Messages API, as its SDKs call it (x-api-key, anthropic-version).
    anthropic = {"x-api-key": secret, "anthropic-version": "2023-06-01"}
    yield (
        "GET /v1/models/<name> (Anthropic)",
        http.get(f"/v1/models/{name}", headers=anthropic),
    )
    for stream in (False, True):
        yield (
            f"POST /v1/messages stream={stream}",
            http.post(
                "/v1/messages",
                json={
                    "model": name,
                    "max_tokens": 10,
                    "messages": messages,
                    "stream": stream,
                },
                headers=anthropic,
            ),
        )
    yield (
        "POST /v1/messages/count_tokens",
        http.post(
            "/v1/messages/count_tokens",
            json={"model": name, "messages": messages},
            headers=anthropic,
        ),
    )
    # OpenAI's Responses API (store false: the matrix compares answers, and a
    # stored response's id differs between calls).
    for stream in (False, True):
        yield (
            f"POST /v1/responses stream={stream}",
            http.post(
                "/v1/responses",
                json={"model": name, "input": "hi", "stream": stream, "store": False},
                headers=auth,
            ),
        )


@pytest.fixture
def live_tenants(matrix: Matrix) -> Iterator[Matrix]:
    """Each tenant's provider pointed at its own fake upstream with its credential."""
    with ExitStack() as stack:
        for tenant in (matrix.acme, matrix.globex):
            app = fake_openai.make_app(
                api_key=f"sk-{tenant.marker}-credential",
                models=[
                    tenant.chat.model_id,
                    tenant.private.model_id,
                    tenant.embed.model_id,
                ],
            )
            tenant.server = stack.enter_context(serve(app))
            tenant.provider.endpoint = f"{tenant.server.url}/v1"
            tenant.provider.save()
        yield matrix


def test_no_v1_route_lets_a_key_use_or_detect_another_organizations_models(
    gateway: Any, live_tenants: Matrix
) -> None:
    m = live_tenants
    acme, globex = m.acme, m.globex
    # What each key must list: its organization's view, never the other's.
    expected = {
        "alice@acme": {acme.chat.alias, acme.private.model_id, acme.embed.model_id},
        "bob@acme": {acme.chat.alias, acme.embed.model_id},
        "dan@acme": {acme.chat.alias, acme.private.model_id, acme.embed.model_id},
        "service@acme": {acme.chat.alias, acme.private.model_id, acme.embed.model_id},
        "charlie@globex": {
            globex.chat.alias,
            globex.private.model_id,
            globex.embed.model_id,
        },
        "dan@globex": {
            globex.chat.alias,
            globex.private.model_id,
            globex.embed.model_id,
        },
        "service@globex": {
            globex.chat.alias,
            globex.private.model_id,
            globex.embed.model_id,
        },
    }
    with httpx.Client(base_url=gateway.url, timeout=30) as http:
        for label, (_key, secret) in m.keys.items():
            own, other = (acme, globex) if label.endswith("@acme") else (globex, acme)
            patterns = other.patterns()
            listing = http.get(
                "/v1/models", headers={"Authorization": f"Bearer {secret}"}
            )
            m.check(f"{label} GET /v1/models", listing.text, patterns)
            listed = {entry["id"] for entry in listing.json()["data"]}
            m.expect(f"{label} lists", listed == expected[label], f"listed {listed}")
            for n, name in enumerate(other.probe_names()):
                missing = f"zz-no-such-model-{n}"
                answers = dict(_v1_calls(http, secret, missing))
                for route, answer in answers.items():
                    m.expect(
                        f"{label} {route} a missing model is a 404",
                        answer.status_code == 404,
                        f"{answer.status_code} {answer.text[:200]}",
                    )
                for route, response in _v1_calls(http, secret, name):
                    m.expect(
                        f"{label} {route} {name}",
                        _normalized(response, name)
                        == _normalized(answers[route], missing),
                        f"{response.status_code} {response.text[:200]} differs from "
                        f"{answers[route].status_code} {answers[route].text[:200]}",
                    )
                    m.check(
                        f"{label} {route} {name}",
                        response.text.replace(name, "<NAME>"),
                        patterns,
                    )
            # The control: the key does reach its own organization's model.
            answer = http.post(
                "/v1/chat/completions",
                json={
                    "model": own.chat.alias,
                    "messages": [{"role": "user", "content": "hi"}],
                },
                headers={"Authorization": f"Bearer {secret}"},
            )
            m.expect(f"{label} calls its own model", answer.status_code == 200)
    # Each upstream saw only its own organization's calls, with its own credential.
    for tenant in (acme, globex):
        assert tenant.server is not None
        seen = tenant.server.app["requests"]
        calls = sum(label.endswith(f"@{tenant.org.slug}") for label in m.keys)
        m.expect(f"{tenant.marker} upstream", len(seen) == calls, f"{len(seen)} calls")
        for request in seen:
            m.expect(
                f"{tenant.marker} upstream credential",
                request["headers"].get("Authorization")
                == f"Bearer sk-{tenant.marker}-credential",
            )
            m.expect(
                f"{tenant.marker} upstream model",
                str(request["json"].get("model", "")).startswith(tenant.marker),
            )
    _assert_clean(m, "/v1")


def _stored_response(tenant: Tenant) -> str:
    """A stored Responses answer of ``tenant`` whose content carries its marker."""
    response_id = new_id("resp")
    text = {"type": "input_text", "text": f"{tenant.marker} question"}
    response_store.save(
        tenant.org.pk,
        None,
        None,
        {"id": response_id, "object": "response", "model": tenant.chat.model_id,
         "output": [], "metadata": {"note": tenant.marker}},
        [{"id": new_id("msg"), "type": "message", "role": "user", "content": [text]}],
        None,
    )  # fmt: skip
    return response_id


def _stored_response_calls(
    http: httpx.Client, secret: str, response_id: str
) -> Iterator[tuple[str, httpx.Response]]:
    auth = {"Authorization": f"Bearer {secret}"}
    url = f"/v1/responses/{response_id}"
    yield "GET /v1/responses/<id>", http.get(url, headers=auth)
    yield (
        "GET /v1/responses/<id>/input_items",
        http.get(f"{url}/input_items", headers=auth),
    )
    yield (
        "DELETE /v1/responses/<id>",
        http.delete(url, headers=auth),
    )


def test_no_key_reads_deletes_or_detects_another_organizations_stored_responses(
    gateway: Any, matrix: Matrix
) -> None:
    m = matrix
    stored = {tenant.marker: _stored_response(tenant) for tenant in (m.acme, m.globex)}
    with httpx.Client(base_url=gateway.url, timeout=30) as http:
        for label, (_key, secret) in m.keys.items():
            own, other = (
                (m.acme, m.globex) if label.endswith("@acme") else (m.globex, m.acme)
            )
            missing = new_id("resp")
            answers = dict(_stored_response_calls(http, secret, missing))
            foreign = stored[other.marker]
            for route, response in _stored_response_calls(http, secret, foreign):
                m.expect(
                    f"{label} {route} another organization's",
                    _normalized(response, foreign)
                    == _normalized(answers[route], missing)
                    and response.status_code == 404,
                    f"{response.status_code} {response.text[:200]} differs from "
                    f"{answers[route].status_code} {answers[route].text[:200]}",
                )
                m.check(f"{label} {route}", response.text, other.patterns())
            # The control: the key reads its own organization's (the two GETs
            # only: islice never runs the DELETE).
            own_calls = _stored_response_calls(http, secret, stored[own.marker])
            for route, response in islice(own_calls, 2):
                m.expect(
                    f"{label} {route} its own",
                    response.status_code == 200 and own.marker in response.text,
                    f"{response.status_code} {response.text[:200]}",
                )
    m.expect(
        "no key deleted another organization's stored response",
        StoredResponse.objects.filter(pk__in=stored.values()).count() == 2,
    )
    _assert_clean(m, "stored response")


def test_dans_keys_are_billed_to_the_organization_of_the_key(
    gateway: Any, live_tenants: Matrix
) -> None:
    """Usage follows the key's organization, whatever else its user belongs to."""
    m = live_tenants
    UsageRecord.objects.all().delete()
    with httpx.Client(base_url=gateway.url, timeout=30) as http:
        for label, tenant in [("dan@acme", m.acme), ("dan@globex", m.globex)]:
            _key, secret = m.keys[label]
            answer = http.post(
                "/v1/chat/completions",
                json={
                    "model": tenant.chat.model_id,
                    "messages": [{"role": "user", "content": "hi"}],
                },
                headers={"Authorization": f"Bearer {secret}"},
            )
            assert answer.status_code == 200, answer.text
    deadline = time.monotonic() + 10
    while UsageRecord.objects.count() < 2 and time.monotonic() < deadline:
        usage.flush()
        time.sleep(0.05)
    billed = {
        (r.api_key.name, r.organization.slug, r.provider.name, r.user.username)
        for r in UsageRecord.objects.select_related("api_key", "organization")
    }
    assert billed == {
        ("dan-zqacme-key", "acme", "zqacme-provider", "dan"),
        ("dan-zqglobex-key", "globex", "zqglobex-provider", "dan"),
    }


def test_a_provider_owner_sees_each_use_of_its_provider_but_not_who_called(
    gateway: Any, live_tenants: Matrix
) -> None:
    """Attribution both ways: globex's key calls a model acme shares with it.

    The record is billed to globex and names acme as the provider's owner.
    acme's admin sees the call (globex's name, model, tokens, cost, status) in
    its list, totals and export, but never globex's user or key names; globex
    sees it in full; neither sees the other's own traffic.
    """
    m = live_tenants
    acme, globex = m.acme, m.globex
    Grant.objects.create(model=acme.chat, organization=globex.org)
    UsageRecord.objects.all().delete()
    _key, secret = m.keys["charlie@globex"]
    with httpx.Client(base_url=gateway.url, timeout=30) as http:
        answer = http.post(
            "/v1/chat/completions",
            json={
                "model": acme.chat.model_id,
                "messages": [{"role": "user", "content": "hi"}],
            },
            headers={"Authorization": f"Bearer {secret}"},
        )
    assert answer.status_code == 200, answer.text
    deadline = time.monotonic() + 10
    while not UsageRecord.objects.exists() and time.monotonic() < deadline:
        usage.flush()
        time.sleep(0.05)
    served = UsageRecord.objects.select_related("user").get()
    assert (served.organization, served.provider_organization) == (
        globex.org,
        acme.org,
    )
    assert served.user is not None and served.user.username == "charlie"
    # Each side's own traffic, which the other must never see.
    for tenant in (acme, globex):
        UsageRecord.objects.create(
            organization=tenant.org,
            provider=tenant.provider,
            provider_organization=tenant.org,
            endpoint="chat",
            model_name=tenant.private.model_id,
            status_code=200,
        )
    usage_list = "/admin/gateway/usagerecord/"
    export = f"{usage_list}export.csv"
    # What acme's admin must not learn about globex's call: who made it.
    caller_names = [re.compile(globex.marker), re.compile(r"\bcharlie\b")]

    alice = Client()
    alice.force_login(acme.provider.owner)
    listing = alice.get(usage_list)
    ids = {r.pk for r in listing.context["cl"].result_list}
    m.expect("alice lists globex's use of acme's provider", served.pk in ids)
    m.expect("alice lists acme's own traffic", len(ids) == 2, f"{ids}")
    m.expect(
        "alice's totals count it",
        listing.context["usage_totals"]["requests"] == "2",
        str(listing.context["usage_totals"]),
    )
    m.expect("alice sees the caller", "Globex" in listing.content.decode())
    m.check("alice usage list", listing.content.decode(), caller_names)
    detail = alice.get(f"{usage_list}{served.pk}/change/")
    m.expect("alice opens the record", detail.status_code == 200)
    m.check("alice usage record", detail.content.decode(), caller_names)
    for term in ("charlie", globex.marker):
        found = alice.get(usage_list, {"q": term})
        m.expect(f"alice searches {term}", found.context["cl"].result_count == 0, term)
    body = b"".join(alice.get(export).streaming_content).decode()
    m.expect("alice's export has it", "Globex" in body and acme.chat.model_id in body)
    m.check("alice usage export", body, caller_names)
    # No filter may split globex's calls by who made them: refused (400).
    key = served.api_key_id
    for params in (
        {"user": served.user_id},
        {"user__in": str(served.user_id)},
        {"user__isnull": "True"},
        {"api_key": key},
        {"api_key_id": key},
        {"api_key__gt": 0},
    ):
        for url in (usage_list, export):
            code = alice.get(url, params).status_code
            m.expect(f"alice filters {url} by {params}", code == 400, str(code))
    for column in range(1, 8):
        page = alice.get(usage_list, {"o": str(column)})
        m.check(
            f"alice usage list sorted by {column}", page.content.decode(), caller_names
        )

    charlie = Client()
    charlie.force_login(globex.provider.owner)
    theirs = charlie.get(usage_list)
    text = theirs.content.decode()
    m.expect("charlie sees his key's call in full", "charlie-zqglobex-key" in text)
    m.check("charlie usage list", text, [re.compile(acme.private.model_id)])
    body = b"".join(charlie.get(export).streaming_content).decode()
    m.expect("charlie's export names his key", "charlie-zqglobex-key" in body)
    m.check("charlie usage export", body, [re.compile(acme.private.model_id)])
    _assert_clean(m, "attribution")
