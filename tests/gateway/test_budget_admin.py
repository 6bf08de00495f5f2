"""The budget admin: scoped like every admin, targets only of the budget's
organization, clean errors for any mismatch and junk (never a 500), and the
list's spend, percentage and bar from the usage records."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.http import QueryDict
from django.test import Client
from django.utils import timezone

from gateway.budgets.forms import BudgetForm
from gateway.models import ApiKey, Budget, UsageRecord
from models_catalog.models import Grant
from tests.conftest import World
from tests.factories import AIModelFactory, BudgetFactory, ProviderFactory

ADD = "/admin/gateway/budget/add/"
LIST = "/admin/gateway/budget/"


def signed_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def form(org: Any, scope: str = "organization", **fields: Any) -> dict[str, Any]:
    data = {
        "organization": org.pk,
        "scope": scope,
        "user": "",
        "api_key": "",
        "model": "",
        "provider": "",
        "amount": "25",
        "period": "month",
        "starts_at_0": "2026-11-01",
        "starts_at_1": "00:00:00",
        "alert_thresholds": "50, 80, 100",
        "is_active": "on",
    }
    data.update({k: "" if v is None else v for k, v in fields.items()})
    return data


def spend(org: Any, cost: str, **who: Any) -> None:
    UsageRecord.objects.create(
        organization=org,
        endpoint="chat",
        model_name="m",
        status_code=200,
        cost=Decimal(cost),
        **who,
    )


@pytest.fixture
def acme_things(world: World) -> dict[str, Any]:
    provider = ProviderFactory(organization=world.acme, name="acme-main")
    model = AIModelFactory(provider=provider, model_id="acme-chat")
    key, _ = ApiKey.issue(world.acme, world.bob, "bob-agent")
    return {"provider": provider, "model": model, "key": key}


@pytest.fixture
def globex_things(world: World) -> dict[str, Any]:
    provider = ProviderFactory(organization=world.globex, name="globex-main")
    model = AIModelFactory(provider=provider, model_id="globex-chat")
    key, _ = ApiKey.issue(world.globex, world.charlie, "charlie-agent")
    return {"provider": provider, "model": model, "key": key}


def test_an_admin_adds_a_budget_for_each_scope(world, acme_things):
    client = signed_in(world.alice)
    targets = {
        "organization": {},
        "user": {"user": world.bob.pk},
        "key": {"api_key": acme_things["key"].pk},
        "model": {"model": acme_things["model"].pk},
        "provider": {"provider": acme_things["provider"].pk},
    }
    for scope, target in targets.items():
        response = client.post(ADD, form(world.acme, scope, **target))
        assert response.status_code == 302, (scope, response.context["errors"])
    budgets = {b.scope: b for b in Budget.objects.all()}
    assert budgets.keys() == targets.keys()
    assert budgets["key"].api_key == acme_things["key"]
    assert budgets["user"].alert_thresholds == [50, 80, 100]
    assert all(b.organization == world.acme for b in budgets.values())


def test_a_shared_model_and_its_provider_can_be_limited(
    world, acme_things, globex_things
):
    Grant.objects.create(model=globex_things["model"], organization=world.acme)
    client = signed_in(world.alice)
    for scope, field, target in [
        ("model", "model", globex_things["model"]),
        ("provider", "provider", globex_things["provider"]),
    ]:
        response = client.post(ADD, form(world.acme, scope, **{field: target.pk}))
        assert response.status_code == 302, response.context["errors"]
    assert Budget.objects.filter(organization=world.acme).count() == 2


def test_another_organizations_targets_are_refused_on_their_fields(
    world, acme_things, globex_things
):
    client = signed_in(world.alice)
    for scope, field, target in [
        ("user", "user", world.charlie),
        ("key", "api_key", globex_things["key"]),
        ("model", "model", globex_things["model"]),
        ("provider", "provider", globex_things["provider"]),
    ]:
        response = client.post(ADD, form(world.acme, scope, **{field: target.pk}))
        assert response.status_code == 200
        errors = response.context["adminform"].form.errors
        assert list(errors) == [field], (scope, errors)
        page = response.content.decode()
        for name in ("charlie", "globex-main", "globex-chat", "charlie-agent"):
            assert name not in page, (scope, name)
    assert not Budget.objects.exists()


def test_a_target_that_does_not_match_the_scope_is_a_form_error(world, acme_things):
    client = signed_in(world.alice)
    cases = [
        # (scope, fields given, fields the errors are on)
        ("user", {}, ["user"]),
        ("key", {"user": world.bob.pk}, ["user", "api_key"]),
        ("organization", {"api_key": acme_things["key"].pk}, ["api_key"]),
        (
            "model",
            {
                "model": acme_things["model"].pk,
                "provider": acme_things["provider"].pk,
            },
            ["provider"],
        ),
        ("provider", {"model": acme_things["model"].pk}, ["model", "provider"]),
    ]
    for scope, fields, on in cases:
        response = client.post(ADD, form(world.acme, scope, **fields))
        assert response.status_code == 200, scope
        errors = response.context["adminform"].form.errors
        assert sorted(errors) == sorted(on), (scope, errors)
        assert "budget_target_matches_scope" not in response.content.decode()
    assert not Budget.objects.exists()


def test_a_member_of_another_organization_of_the_admin_is_still_refused(
    world, acme_things
):
    # dan belongs to globex only; alice administers both: the choice exists,
    # the budget's organization decides.
    from tests.factories import MembershipFactory, UserFactory

    dan = UserFactory(username="dan")
    MembershipFactory(user=dan, organization=world.globex)
    MembershipFactory(user=world.alice, organization=world.globex, role="admin")
    client = signed_in(world.alice)
    response = client.post(ADD, form(world.acme, "user", user=dan.pk))
    assert response.status_code == 200
    assert list(response.context["adminform"].form.errors) == ["user"]
    response = client.post(ADD, form(world.globex, "user", user=dan.pk))
    assert response.status_code == 302


JUNK = [
    "",
    " ",
    "x",
    "-1",
    "1e400",
    "NaN",
    "Infinity",
    "٣",
    "0x10",
    "\x00",
    "a\x00b",
    "'; DROP TABLE gateway_budget; --",
    "<script>alert(1)</script>",
    "9" * 40,
    "1" * 5000,
    "[1, 2",
    "[true]",
    '{"a": 1}',
    "[50, 80, 100, 200, 300, 400, 500, 600, 700, 800, 900]",
    "2026-13-45",
    "99999999999999999999",
    "1.23456789",
]
FIELDS = [
    "organization",
    "scope",
    "user",
    "api_key",
    "model",
    "provider",
    "amount",
    "period",
    "starts_at_0",
    "starts_at_1",
    "alert_thresholds",
    "is_active",
]


def test_junk_in_any_field_is_a_form_error_never_an_exception(world, acme_things):
    """Every field of the form, every junk value, new and existing budgets."""
    budget = BudgetFactory(organization=world.acme)
    for instance in (None, budget):
        for field in FIELDS:
            for junk in [*JUNK, ["1", "2"], None]:
                data = form(world.acme)
                if junk is None:
                    data.pop(field)
                else:
                    data[field] = junk
                post = QueryDict(mutable=True)
                for name, value in data.items():
                    post.setlist(name, value if isinstance(value, list) else [value])
                bound = BudgetForm(post, instance=instance)
                if bound.is_valid():  # junk a field may take (a checkbox's "x")
                    bound.instance.full_clean()
    budget.refresh_from_db()
    assert budget.amount == Decimal("10")


def test_junk_posted_to_the_admin_is_answered_with_the_form(world, acme_things):
    client = signed_in(world.alice)
    budget = BudgetFactory(organization=world.acme)
    change = f"{LIST}{budget.pk}/change/"
    for url in (ADD, change):
        for field in FIELDS:
            for junk in ["\x00", "1e400", "<script>alert(1)</script>", "1" * 5000]:
                data = form(world.acme)
                data[field] = junk
                response = client.post(url, data)
                assert response.status_code in (200, 302), (url, field, junk)
                assert "<script>alert(1)</script>" not in response.content.decode()
    assert all(b.organization == world.acme for b in Budget.objects.all())
    for b in Budget.objects.all():
        b.full_clean()


def test_thresholds_read_as_a_comma_list_or_a_json_list(world):
    client = signed_in(world.alice)
    for text, stored in [("25,75", [25, 75]), ("[90]", [90]), ("", [])]:
        Budget.objects.all().delete()
        response = client.post(ADD, form(world.acme, alert_thresholds=text))
        assert response.status_code == 302, response.context["errors"]
        assert Budget.objects.get().alert_thresholds == stored
    for text in ("0", "1001", "50, x", "5.5"):
        response = client.post(ADD, form(world.acme, alert_thresholds=text))
        assert response.status_code == 200, text
        assert "alert_thresholds" in response.context["adminform"].form.errors


def test_the_list_shows_spend_percent_and_a_bar_of_the_current_period(
    world, acme_things
):
    key = acme_things["key"]
    BudgetFactory(organization=world.acme, amount=Decimal("10"), period="month")
    BudgetFactory(
        organization=world.acme,
        scope="key",
        api_key=key,
        amount=Decimal("2"),
        period="day",
    )
    spend(world.acme, "1.5", api_key=key)
    spend(world.acme, "0.25")
    old = UsageRecord.objects.create(
        organization=world.acme,
        endpoint="chat",
        model_name="m",
        status_code=200,
        cost=Decimal("100"),
        api_key=key,
    )
    UsageRecord.objects.filter(pk=old.pk).update(
        created_at=timezone.now() - timedelta(days=40)
    )
    spend(world.globex, "999")
    response = signed_in(world.alice).get(LIST)
    assert response.status_code == 200
    page = response.content.decode()
    assert "$1.75" in page and "18 %" in page  # 1.75 of 10 this month
    assert "$1.50" in page and "75 %" in page  # the key's 1.50 of 2 today
    assert 'data-level="ok"' in page
    assert page.count("<meter") == 2
    assert "$999" not in page
    assert "API key bob-agent" in page


def test_a_budget_over_its_limit_reads_as_over(world):
    BudgetFactory(organization=world.acme, amount=Decimal("1"))
    spend(world.acme, "1.30")
    page = signed_in(world.alice).get(LIST).content.decode()
    assert 'data-level="over"' in page and "130 %" in page
    assert 'value="100"' in page  # the bar stops at its end


def test_another_organizations_budgets_are_not_listed_nor_editable(world):
    theirs = BudgetFactory(organization=world.globex, amount=Decimal("77"))
    client = signed_in(world.alice)
    assert "$77" not in client.get(LIST).content.decode()
    for view in ("change", "delete", "history"):
        url = f"{LIST}{theirs.pk}/{view}/"
        assert client.get(url).status_code == 404, view
    assert client.post(f"{LIST}{theirs.pk}/change/", form(world.acme)).status_code == (
        404
    )
    assert client.post(f"{LIST}{theirs.pk}/delete/", {"post": "yes"}).status_code == (
        404
    )
    assert Budget.objects.filter(pk=theirs.pk, amount=Decimal("77")).exists()


def test_a_member_without_the_admin_role_has_no_budget_admin(world):
    world.bob.is_staff = True
    world.bob.save()
    client = signed_in(world.bob)
    assert client.get(LIST).status_code == 403
    assert client.get(ADD).status_code == 403


def test_the_form_offers_only_the_organizations_targets(
    world, acme_things, globex_things
):
    response = signed_in(world.alice).get(ADD)
    fields = response.context["adminform"].form.fields
    assert set(fields["organization"].queryset) == {world.acme}
    assert set(fields["user"].queryset) == {world.alice, world.bob}
    assert set(fields["api_key"].queryset) == {acme_things["key"]}
    assert set(fields["model"].queryset) == {acme_things["model"]}
    assert set(fields["provider"].queryset) == {acme_things["provider"]}
    assert response.context["adminform"].form.initial["organization"] == str(
        world.acme.pk
    )
    budget = BudgetFactory(organization=world.acme)
    response = signed_in(world.alice).get(f"{LIST}{budget.pk}/change/")
    assert "organization" not in response.context["adminform"].form.fields


def test_the_key_list_shows_each_keys_budget(world, acme_things):
    key = acme_things["key"]
    ApiKey.issue(world.acme, world.alice, "no-budget-key")
    BudgetFactory(
        organization=world.acme, scope="key", api_key=key, amount=Decimal("4")
    )
    spend(world.acme, "1", api_key=key)
    page = signed_in(world.alice).get("/admin/gateway/apikey/").content.decode()
    assert "$1.00 of $4.00 · month" in page and "25 %" in page
    assert page.count("<meter") == 1
