"""Property-based tests of the management API, generated from its own schema.

Schemathesis generates requests for every operation of the committed schema
(``docs/openapi.yaml``) and sends them to a real server (the live uvicorn of
``tests/gateway/conftest.py``) holding data of two organizations. Acme's admin
token makes the calls; the path names acme's objects, or globex's, or whatever
was generated. Every answer must pass Schemathesis' checks (no 5xx; status
code, body, content type and headers as documented, errors included; the same
call without credentials refused) except the one noted at ``EXCLUDED``, never
carry a secret and never name a globex object; every call that
names globex must be 404; and globex's rows are the same afterwards.

Nothing leaves the machine: names resolve to nothing (``fake_dns`` with an
empty table) and provider writes point at the fake vendor on loopback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
import yaml
from django.conf import settings
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from accounts import invitations
from accounts.models import Invitation, Membership
from api.models import ManagementToken
from gateway.models import ApiKey, Budget, UsageRecord
from models_catalog.models import AIModel, Grant
from providers.models import Provider
from tests.api.conftest import PROVIDER_KEY
from tests.factories import (
    AIModelFactory,
    BudgetFactory,
    GrantFactory,
    ProviderFactory,
)
from tests.fakes.net import fake_dns

SCHEMA = Path(settings.BASE_DIR) / "docs" / "openapi.yaml"
EXAMPLES_PER_OPERATION = 10
# Every check Schemathesis has (status codes, headers, schema, content type,
# auth ignored, ...) but one: a schema-valid body may still be refused with a
# 400 for what a schema cannot say (a duplicate name, a vendor refusing the
# credentials, a private endpoint, the starter provider).
EXCLUDED = [positive_data_acceptance]
GLOBEX_NAMES = (
    "globex-guest",
    "theirs",
    "their-model",
    "their-key",
    "globex-ci",
    "Globex",
)


def globex_rows(world: Any) -> tuple[Any, ...]:
    return (
        sorted(Provider.objects.filter(organization=world.globex).values_list()),
        sorted(AIModel.objects.filter(organization=world.globex).values_list()),
        Grant.objects.filter(model__organization=world.globex).count(),
        sorted(ApiKey.objects.filter(organization=world.globex).values_list()),
        sorted(ManagementToken.objects.filter(organization=world.globex).values_list()),
        sorted(Membership.objects.filter(organization=world.globex).values_list()),
        sorted(Invitation.objects.filter(organization=world.globex).values_list()),
        sorted(Budget.objects.filter(organization=world.globex).values_list()),
    )


@pytest.fixture
def two_organizations(world, fake_openai):
    own = ProviderFactory(
        organization=world.acme,
        name="main",
        endpoint=fake_openai.endpoint,
        secrets={"api_key": PROVIDER_KEY},
    )
    model = AIModelFactory(provider=own, model_id="gpt-4o-mini")
    grant = GrantFactory(model=model, organization=world.acme)
    bot, _ = ApiKey.issue(world.acme, world.bob, "bot", allowed_models=["gpt-4o-mini"])
    budget = BudgetFactory(organization=world.acme, scope="key", api_key=bot)
    UsageRecord.objects.create(
        organization=world.acme,
        endpoint="chat",
        model_name="gpt-4o-mini",
        status_code=200,
    )
    theirs = ProviderFactory(
        organization=world.globex, name="theirs", secrets={"api_key": "sk-globex"}
    )
    their_model = AIModelFactory(provider=theirs, model_id="their-model")
    their_grant = GrantFactory(model=their_model, organization=world.globex)
    their_key, _ = ApiKey.issue(world.globex, world.charlie, "their-key")
    their_budget = BudgetFactory(
        organization=world.globex, scope="key", api_key=their_key
    )
    their_token, _ = ManagementToken.issue(
        world.globex, world.charlie, "globex-ci", "admin"
    )
    UsageRecord.objects.create(
        organization=world.globex,
        endpoint="chat",
        model_name="their-model",
        status_code=200,
    )
    their_invitation = invitations.invite(
        world.globex, "globex-guest@example.test", "member", world.charlie, "http://t/"
    )
    invitation = invitations.invite(
        world.acme, "guest@example.test", "member", world.alice, "http://t/"
    )
    _, secret = ManagementToken.issue(world.acme, world.alice, "st", "admin")
    # Another of acme's tokens for the token routes (revoking the caller's own
    # would end the run).
    token, _ = ManagementToken.issue(world.acme, world.alice, "acme-ci", "admin")
    return {
        "secret": secret,
        "acme": {
            "organization": "acme",
            "provider": "main",
            "model_id": "gpt-4o-mini",
            "key": "bot",
            "code": {  # tokens, grants, invitations and budgets: by code
                "tokens": str(token.code),
                "grants": str(grant.code),
                "invitations": str(invitation.code),
                "budgets": str(budget.code),
            },
            "username": "bob",  # never alice: the run acts with her token
        },
        "globex": {
            "organization": "globex",
            "provider": "theirs",
            "model_id": "their-model",
            "key": "their-key",
            "code": {
                "tokens": str(their_token.code),
                "grants": str(their_grant.code),
                "invitations": str(their_invitation.code),
                "budgets": str(their_budget.code),
            },
            "username": "charlie",
        },
        "secrets": {PROVIDER_KEY, "sk-globex", secret},
    }


def test_every_operation_against_its_schema(
    gateway, world, two_organizations, fake_openai, monkeypatch, settings
):
    fake_dns(monkeypatch, {})
    # Schemathesis replays calls with invalid tokens (and wants their 401): the
    # failed-token throttle (tests/api/test_throttle.py) must not answer first.
    settings.GATEWAY_AUTH_FAILURE_LIMIT = 100_000
    data = two_organizations
    schema = schemathesis.openapi.from_dict(yaml.safe_load(SCHEMA.read_text()))
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {data['secret']}"
    before = globex_rows(world)
    stats = {"operations": 0, "cases": 0, "foreign": 0}
    for result in schema.get_all_operations():
        operation = result.ok()
        stats["operations"] += 1

        @hypothesis_settings(
            max_examples=EXAMPLES_PER_OPERATION,
            # The same cases on every run: CI answers for the code, not for luck.
            derandomize=True,
            deadline=None,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(
            case=st.one_of(  # valid requests, and ones the schema forbids
                operation.as_strategy().map(lambda c: (c, True)),
                operation.as_strategy(generation_mode=GenerationMode.NEGATIVE).map(
                    lambda c: (c, False)
                ),
            ),
            whose=st.sampled_from(["acme", "acme", "globex", "generated"]),
        )
        def run(case: Any, whose: str) -> None:
            case, valid = case
            # A request the schema forbids keeps what was generated (naming real
            # objects could mend the part made invalid).
            names = {} if whose == "generated" or not valid else data[whose]
            for name in case.path_parameters:
                if name in names:
                    value = names[name]
                    if isinstance(value, dict):  # a code: whose depends on the path
                        value = value[operation.path.split("/")[5]]
                    case.path_parameters[name] = value
            if isinstance(case.body, dict) and "/providers/" in operation.path:
                # Whatever the vendor check or health check calls is on loopback.
                case.body["endpoint"] = fake_openai.endpoint
                case.body["config"] = {}
            response = case.call(base_url=gateway.url, session=session)
            stats["cases"] += 1
            case.validate_response(response, excluded_checks=EXCLUDED)
            text = response.text
            assert not any(s in text for s in data["secrets"]), "secret in answer"
            assert not any(n in text for n in GLOBEX_NAMES), "another org named"
            if case.path_parameters.get("organization") == "globex":
                stats["foreign"] += 1
                assert response.status_code == 404, (operation.label, text)

        run()
    assert stats["operations"] == 55
    assert globex_rows(world) == before
    print(f"schemathesis: {stats}")  # the closing note quotes it
