"""manage.py bootstrap: YAML in, organizations/users/providers/models/grants out."""

from __future__ import annotations

import os
import subprocess
import sys
from decimal import Decimal
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from accounts.models import Membership, Organization, User
from models_catalog.models import AIModel, Grant
from providers.models import Provider
from tests.conftest import World

pytestmark = pytest.mark.django_db

EXAMPLE = """\
organizations:
  - slug: acme
    name: Acme Corp
    members:
      - {username: alice, email: alice@acme.test, role: admin, password: "${ALICE_PASSWORD}"}
      - {username: bob, email: bob@acme.test, role: member, password: "${BOB_PASSWORD}"}
providers:
  - organization: acme
    name: anthropic-prod
    type: anthropic
    endpoint: https://api.anthropic.com
    auth: {method: x_api_key, api_key: "${ANTHROPIC_API_KEY}"}
    models:
      - {model_id: claude-sonnet-4-6, name: Claude Sonnet 4.6, type: inference, input_cost_per_million: 3, output_cost_per_million: 15}
  - organization: acme
    name: bedrock-us
    type: bedrock
    auth: {method: aws_sigv4, region: us-east-1, access_key_id: "${AWS_ACCESS_KEY_ID}", secret_access_key: "${AWS_SECRET_ACCESS_KEY}"}
    models:
      - {model_id: anthropic.claude-3-haiku-20240307-v1:0, type: inference}
grants:
  - {model: anthropic-prod/claude-sonnet-4-6, organization: acme}
  - {model: bedrock-us/anthropic.claude-3-haiku-20240307-v1:0, user: bob}
"""  # noqa: E501

SECRETS = {
    "ALICE_PASSWORD": "alice-pw-Zq81-secret",
    "BOB_PASSWORD": "bob-pw-Kx27-secret",
    "ANTHROPIC_API_KEY": "sk-ant-SECRET-4b1d",
    "AWS_ACCESS_KEY_ID": "AKIASECRETKEYID0001",
    "AWS_SECRET_ACCESS_KEY": "aws-SECRET-access-9f9f",
}
ALL_MODELS = (Organization, User, Membership, Provider, AIModel, Grant)


@pytest.fixture(autouse=True)
def env(monkeypatch: pytest.MonkeyPatch, settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)


def write(tmp_path: Path, text: str, name: str = "bootstrap.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def run(path: Path, *args: str) -> str:
    out = StringIO()
    call_command("bootstrap", str(path), *args, stdout=out)
    return out.getvalue()


def fail(path: Path) -> str:
    with pytest.raises(CommandError) as exc:
        run(path)
    return str(exc.value)


def counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in ALL_MODELS}


def snapshot() -> dict[str, list[tuple[Any, ...]]]:
    """Every row's stored state: timestamps, hashes and ciphertexts as stored."""
    return {
        "orgs": list(Organization.objects.values_list("slug", "name")),
        "users": list(User.objects.values_list("username", "password", "email")),
        "memberships": list(Membership.objects.values_list("pk", "role")),
        "providers": [
            (p.pk, p.updated_at, p.credentials.stored, p.provider_config.stored)
            for p in Provider.objects.all()
        ],
        "models": [
            (m.pk, m.updated_at, m.model_config.stored) for m in AIModel.objects.all()
        ],
        "grants": list(Grant.objects.values_list("pk", "created_at")),
    }


def raw_column(model: type[Provider | AIModel], pk: int, column: str) -> str:
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table} WHERE id = %s", [pk])
        return str(cursor.fetchone()[0])


def test_the_documented_example_works_as_written(tmp_path: Path) -> None:
    output = run(write(tmp_path, EXAMPLE))

    assert "organizations: 1 created, 0 updated, 0 unchanged" in output
    assert "users: 2 created" in output
    assert "providers: 2 created" in output
    assert "models: 2 created" in output
    assert "grants: 2 created" in output
    acme = Organization.objects.get(slug="acme")
    assert acme.name == "Acme Corp"
    alice, bob = User.objects.get(username="alice"), User.objects.get(username="bob")
    assert alice.check_password(SECRETS["ALICE_PASSWORD"])
    assert bob.check_password(SECRETS["BOB_PASSWORD"])
    assert alice.is_staff and not bob.is_staff
    assert alice.email == "alice@acme.test"
    roles = dict(Membership.objects.values_list("user__username", "role"))
    assert roles == {"alice": "admin", "bob": "member"}

    anthropic = Provider.objects.get(organization=acme, name="anthropic-prod")
    assert anthropic.provider_type == "anthropic"
    assert anthropic.auth_method == "x_api_key"
    assert anthropic.endpoint == "https://api.anthropic.com"
    assert anthropic.get_credentials() == {"api_key": SECRETS["ANTHROPIC_API_KEY"]}
    bedrock = Provider.objects.get(organization=acme, name="bedrock-us")
    assert bedrock.get_config() == {"region": "us-east-1"}
    assert bedrock.get_credentials() == {
        "access_key_id": SECRETS["AWS_ACCESS_KEY_ID"],
        "secret_access_key": SECRETS["AWS_SECRET_ACCESS_KEY"],
    }
    assert bedrock.base_url == "https://bedrock-runtime.us-east-1.amazonaws.com"

    sonnet = AIModel.objects.get(model_id="claude-sonnet-4-6")
    assert (sonnet.provider, sonnet.organization) == (anthropic, acme)
    assert sonnet.name == "Claude Sonnet 4.6"
    assert sonnet.input_cost_per_million == Decimal(3)
    assert sonnet.output_cost_per_million == Decimal(15)
    haiku = AIModel.objects.get(model_id="anthropic.claude-3-haiku-20240307-v1:0")
    assert haiku.model_type == "inference"
    assert Grant.objects.filter(model=sonnet, organization=acme).exists()
    assert Grant.objects.filter(model=haiku, user=bob).exists()


def test_credentials_are_stored_encrypted(tmp_path: Path) -> None:
    run(write(tmp_path, EXAMPLE))

    for provider in Provider.objects.all():
        for column in ("credentials", "provider_config"):
            stored = raw_column(Provider, provider.pk, column)
            if column == "provider_config" and not provider.get_config():
                assert stored == ""  # no vendor settings: nothing stored at all
            else:
                assert stored.startswith('{"v":')
            for secret in SECRETS.values():
                assert secret not in stored
    bedrock_config = raw_column(
        Provider, Provider.objects.get(name="bedrock-us").pk, "provider_config"
    )
    assert bedrock_config.startswith('{"v":') and "us-east-1" not in bedrock_config
    anthropic = Provider.objects.get(name="anthropic-prod")
    assert raw_column(Provider, anthropic.pk, "provider_config") == ""


def test_a_second_run_changes_nothing(tmp_path: Path) -> None:
    path = write(tmp_path, EXAMPLE)
    run(path)
    before = snapshot()

    output = run(path)

    assert snapshot() == before
    assert "Nothing changed." in output
    for kind in ("organizations", "users", "memberships", "providers", "models"):
        assert f"{kind}: 0 created, 0 updated," in output
    assert "grants: 0 created, 0 updated, 2 unchanged" in output


def test_an_edit_in_the_file_updates_just_that(tmp_path: Path) -> None:
    path = write(tmp_path, EXAMPLE)
    run(path)
    before = snapshot()
    edited = EXAMPLE.replace(
        "output_cost_per_million: 15", "output_cost_per_million: 12.5"
    )

    output = run(write(tmp_path, edited))

    assert "models: 0 created, 1 updated, 1 unchanged" in output
    assert "providers: 0 created, 0 updated, 2 unchanged" in output
    assert "users: 0 created, 0 updated, 2 unchanged" in output
    after = snapshot()
    assert after["providers"] == before["providers"]
    assert after["users"] == before["users"]
    sonnet = AIModel.objects.get(model_id="claude-sonnet-4-6")
    assert sonnet.output_cost_per_million == Decimal("12.5")
    haiku_before = [m for m in before["models"] if m[0] != sonnet.pk]
    assert [m for m in after["models"] if m[0] != sonnet.pk] == haiku_before


def test_a_changed_secret_reseals_only_that_provider(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, EXAMPLE)
    run(path)
    before = {p.name: p.credentials.stored for p in Provider.objects.all()}
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-ROTATED")
    monkeypatch.setenv("BOB_PASSWORD", "bob-new-pw-Lq55")

    output = run(path)

    assert "providers: 0 created, 1 updated, 1 unchanged" in output
    assert "users: 0 created, 1 updated, 1 unchanged" in output
    anthropic = Provider.objects.get(name="anthropic-prod")
    assert anthropic.get_credentials() == {"api_key": "sk-ant-ROTATED"}
    assert anthropic.credentials.stored != before["anthropic-prod"]
    bedrock = Provider.objects.get(name="bedrock-us")
    assert bedrock.credentials.stored == before["bedrock-us"]
    assert User.objects.get(username="bob").check_password("bob-new-pw-Lq55")


def test_it_works_with_existing_rows_and_leaves_unmentioned_fields_alone(
    tmp_path: Path, world: World
) -> None:
    world.acme.name = "Acme (renamed in the admin)"
    world.acme.save()
    text = """\
organizations:
  - slug: acme
    members:
      - {username: charlie, role: member}
grants:
  - {model: anthropic-prod/claude-sonnet-4-6, organization: globex}
providers:
  - organization: acme
    name: anthropic-prod
    type: anthropic
    auth: {method: x_api_key, api_key: "${ANTHROPIC_API_KEY}"}
    models: [{model_id: claude-sonnet-4-6}]
"""
    old_hash = world.charlie.password

    output = run(write(tmp_path, text))

    assert "organizations: 0 created, 0 updated, 1 unchanged" in output
    assert "users: 0 created, 0 updated, 1 unchanged" in output
    assert Organization.objects.get(slug="acme").name == "Acme (renamed in the admin)"
    charlie = User.objects.get(username="charlie")
    assert charlie.password == old_hash
    assert Membership.objects.filter(user=charlie, organization=world.acme).exists()
    assert Grant.objects.filter(organization=world.globex).count() == 1


def test_instance_wide_base_url_and_every_model_field_are_accepted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PRIORITY", "7")
    text = """\
organizations: [{slug: ops, name: Ops}]
providers:
  - organization: ops
    name: local-vllm
    type: openai_compatible
    instance_wide: true
    status: inactive
    priority: ${PRIORITY}
    requests_per_minute: 600
    timeout_first_byte: 30
    config:
      base_url: http://vllm.internal:8000/v1
      extra_headers: {X-Team: platform}
    auth: {method: bearer, api_key: "${VLLM_KEY:-not-needed}"}
    models:
      - model_id: meta-llama/Llama-3.1-8B-Instruct
        name: Llama
        alias: llama-small
        type: embedding
        status: inactive
        instance_wide: true
        input_cost_per_million: 0.05
        context_window: 131072
        requests_per_minute: 120
        config: {note: "costs $${ZERO} extra"}
"""
    run(write(tmp_path, text))

    provider = Provider.objects.get(name="local-vllm")
    assert provider.instance_wide and provider.status == "inactive"
    assert (provider.priority, provider.requests_per_minute) == (7, 600)
    assert provider.timeout_first_byte == 30
    assert provider.base_url == "http://vllm.internal:8000/v1"
    assert provider.get_config()["extra_headers"] == {"X-Team": "platform"}
    assert provider.get_credentials() == {"api_key": "not-needed"}
    model = AIModel.objects.get(provider=provider)
    assert model.model_id == "meta-llama/Llama-3.1-8B-Instruct"
    assert (model.alias, model.model_type, model.status) == (
        "llama-small",
        "embedding",
        "inactive",
    )
    assert model.instance_wide and model.context_window == 131072
    assert model.input_cost_per_million == Decimal("0.05")
    assert model.get_config() == {"note": "costs ${ZERO} extra"}


def test_every_auth_method_lands_in_credentials_and_config(tmp_path: Path) -> None:
    text = """\
organizations: [{slug: acme}]
providers:
  - {organization: acme, name: azure, type: azure_openai,
     endpoint: "https://acme.openai.azure.com",
     config: {api_version: "2024-10-21", deployments: {gpt-4o: acme-gpt4o}},
     auth: {method: api_key, api_key: k1, header: api-key, prefix: ""}}
  - {organization: acme, name: custom, type: openai_compatible,
     endpoint: "https://llm.example", auth: {method: custom_headers,
     headers: {X-Api-Token: t0k3n}}}
  - {organization: acme, name: oauth, type: openai_compatible,
     endpoint: "https://llm.example", auth: {method: oauth2,
     token_url: "https://login.example/token", client_id: gw, scope: llm,
     client_secret: cs}}
  - {organization: acme, name: ollama, type: ollama, auth: {method: none}}
  - {organization: acme, name: openai, type: openai, auth: {api_key: sk}}
"""
    run(write(tmp_path, text))

    p = {x.name: x for x in Provider.objects.all()}
    assert p["azure"].get_credentials() == {"api_key": "k1"}
    assert p["azure"].get_config() == {
        "api_version": "2024-10-21",
        "deployments": {"gpt-4o": "acme-gpt4o"},
        "auth_header": "api-key",
        "auth_prefix": "",
    }
    assert p["custom"].get_credentials() == {"headers": {"X-Api-Token": "t0k3n"}}
    assert p["oauth"].get_credentials() == {"client_secret": "cs"}
    assert p["oauth"].get_config() == {
        "token_url": "https://login.example/token",
        "client_id": "gw",
        "scope": "llm",
    }
    assert p["ollama"].auth_method == "none"
    assert not p["ollama"].is_configured("credentials")
    assert p["openai"].auth_method == "bearer"  # the type's default method


def test_grants_take_org_qualified_references(tmp_path: Path, world: World) -> None:
    text = """\
providers:
  - {organization: acme, name: shared, type: ollama, models: [{model_id: m}]}
  - {organization: globex, name: shared, type: ollama, models: [{model_id: m}]}
grants:
  - {provider: acme/shared, user: charlie}
  - {model: globex/shared/m, user: bob}
  - {model: shared/m, user: alice}
"""
    message = fail(write(tmp_path, text))

    assert ":7: grants[2].model: 'shared/m' is ambiguous" in message
    assert "acme/shared/m, globex/shared/m" in message

    run(
        write(
            tmp_path,
            text.replace("shared/m, user: alice", "acme/shared/m, user: alice"),
        )
    )
    assert Grant.objects.get(user=world.charlie).provider.organization == world.acme
    assert Grant.objects.get(user=world.bob).model.organization == world.globex


INVALID = {
    "bad YAML syntax": (
        EXAMPLE.replace("    name: Acme Corp\n", "    name: Acme Corp\n   - oops\n"),
        4,
        "invalid YAML",
    ),
    "unknown key": (
        EXAMPLE.replace("    type: bedrock\n", "    type: bedrock\n    prority: 5\n"),
        18,
        "providers[1].prority: unknown field; did you mean 'priority'?",
    ),
    "missing env var": (
        EXAMPLE.replace("${BOB_PASSWORD}", "${BOB_PASSWORT}"),
        6,
        "organizations[0].members[1].password: "
        "environment variable BOB_PASSWORT is not set",
    ),
    "unknown provider type": (
        EXAMPLE.replace("type: anthropic\n", "type: antrhopic\n"),
        10,
        "providers[0].type: must be one of: openai, azure_openai, anthropic",
    ),
    "SigV4 without secret": (
        EXAMPLE.replace(', secret_access_key: "${AWS_SECRET_ACCESS_KEY}"', "").replace(
            '"${AWS_ACCESS_KEY_ID}"', '"${AWS_ACCESS_KEY_ID}", session_token: x'
        ),
        18,
        "providers[1].auth.secret_access_key: is required",
    ),
    "grant to unknown model": (
        EXAMPLE.replace(
            "anthropic-prod/claude-sonnet-4-6, organization",
            "anthropic-prod/claude-sonnet-9, organization",
        ),
        22,
        "grants[0].model: unknown model 'anthropic-prod/claude-sonnet-9'",
    ),
    "forbidden header": (
        EXAMPLE.replace(
            'auth: {method: x_api_key, api_key: "${ANTHROPIC_API_KEY}"}',
            "auth:\n      method: custom_headers\n      headers:\n"
            '        X-Key: "${ANTHROPIC_API_KEY}"\n'
            '        Host: "${ANTHROPIC_API_KEY}"',
        ),
        16,
        "providers[0].auth.headers.Host: Custom headers may not set Host.",
    ),
}


@pytest.mark.parametrize("case", INVALID, ids=list(INVALID))
def test_invalid_files_are_rejected_with_line_and_reason(
    tmp_path: Path, case: str
) -> None:
    text, line, reason = INVALID[case]
    before = counts()
    path = write(tmp_path, text)

    message = fail(path)

    assert f"{path}:{line}: {reason}" in message
    assert "nothing changed" in message.splitlines()[0]
    assert counts() == before
    for secret in SECRETS.values():
        assert secret not in message


def test_invalid_file_leaves_existing_rows_untouched(tmp_path: Path) -> None:
    run(write(tmp_path, EXAMPLE))
    before, rows = counts(), snapshot()
    broken = EXAMPLE.replace("Acme Corp", "Acme Inc").replace(
        "- {model: anthropic-prod", "- {model: nope"
    )

    fail(write(tmp_path, broken))

    assert counts() == before
    assert snapshot() == rows


def test_every_problem_is_listed_at_once(tmp_path: Path) -> None:
    text = EXAMPLE.replace("role: member", "role: owner").replace(
        "endpoint: https://api.anthropic.com", "endpoint: ftp://api.anthropic.com"
    )
    text += "api_key: []\n"
    path = write(tmp_path, text)

    lines = fail(path).splitlines()

    assert lines[0] == f"{path}: 3 problems; nothing changed"
    assert lines[1] == (
        f"{path}:6: organizations[0].members[1].role: must be one of: admin, member"
    )
    assert lines[2].startswith(f"{path}:11: providers[0].endpoint: must be an http")
    assert lines[3].startswith(f"{path}:24: api_key: unknown field")


def test_secrets_never_appear_in_error_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALICE_PASSWORD", "Zq8")
    text = (
        EXAMPLE.replace(
            'api_key: "${ANTHROPIC_API_KEY}"', 'apikey: "${ANTHROPIC_API_KEY}"'
        )
        .replace("region: us-east-1", "region: mars-1")
        .replace(
            "members:\n",
            'members:\n      - {username: carl, password: "${BOB_PASSWORD}", '
            'email: "${AWS_SECRET_ACCESS_KEY}"}\n',
        )
    )

    message = fail(write(tmp_path, text))

    assert "password: This password is too short" in message
    assert "apikey: unknown field; did you mean 'api_key'?" in message
    assert "email: is not a valid email address" in message
    assert "differs from the one given" not in message
    for secret in [*SECRETS.values(), "Zq8"]:
        assert secret not in message


def test_env_interpolation_rules(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret_file = tmp_path / "key.txt"
    secret_file.write_text("from-a-file\n")
    monkeypatch.setenv("FILE_KEY_FILE", str(secret_file))
    monkeypatch.setenv("EMPTY", "")
    text = """\
organizations:
  - slug: acme
    name: "$${literal} ${EMPTY:-fallback} ${UNSET_NAME:-x}"
providers:
  - organization: acme
    name: p
    type: openai
    instance_wide: ${SHARED:-true}
    auth: {api_key: "${FILE_KEY}"}
"""
    run(write(tmp_path, text))

    assert Organization.objects.get().name == "${literal} fallback x"
    provider = Provider.objects.get()
    assert provider.instance_wide is True
    assert provider.get_credentials() == {"api_key": "from-a-file"}


def test_dry_run_reports_and_rolls_back(tmp_path: Path) -> None:
    output = run(write(tmp_path, EXAMPLE), "--dry-run")

    assert "dry run" in output
    assert "providers: 2 created" in output
    assert counts() == dict.fromkeys(counts(), 0)


def test_the_file_defaults_to_bootstrap_file(tmp_path: Path, settings: Any) -> None:
    settings.BOOTSTRAP_FILE = str(write(tmp_path, EXAMPLE))
    out = StringIO()

    call_command("bootstrap", stdout=out)

    assert "organizations: 1 created" in out.getvalue()


def test_the_command_exits_non_zero_on_a_bad_file(tmp_path: Path) -> None:
    path = write(tmp_path, "organizations:\n  - slug: acme\n   name: x\n")
    env = {**os.environ, "DATA_DIR": str(tmp_path / "data"), "DEBUG": "true"}

    result = subprocess.run(
        [sys.executable, "manage.py", "bootstrap", str(path)],
        cwd=django_settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 1
    assert f"{path}:3: invalid YAML" in result.stderr


def test_an_empty_file_is_a_no_op(tmp_path: Path) -> None:
    output = run(write(tmp_path, "# nothing yet\n"))

    assert "Nothing changed." in output
    assert counts() == dict.fromkeys(counts(), 0)


def test_provider_rules_come_from_the_catalog(tmp_path: Path) -> None:
    text = """\
organizations: [{slug: acme}]
providers:
  - organization: acme
    name: b
    type: bedrock
    config: {region: us-east-1}
    auth:
      method: bearer
      api_key: "${ANTHROPIC_API_KEY}"
"""
    path = write(tmp_path, text)

    message = fail(path)

    assert (
        f"{path}:8: providers[0].auth.method: "
        "Bedrock providers authenticate with AWS SigV4." in message
    )
    assert SECRETS["ANTHROPIC_API_KEY"] not in message


API_KEYS = """\
api_keys:
  - {organization: acme, user: alice, name: ci-agent, secret: "${AGENT_KEY}"}
  - organization: acme
    name: service
    secret: "${SERVICE_KEY}"
    models: [claude-sonnet-4-6]
    requests_per_minute: 60
"""


def test_api_keys_are_stored_hashed_and_work_at_the_gateway(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gateway.apikeys import hash_secret
    from gateway.auth import load_key
    from gateway.models import ApiKey

    agent, service = "mg-agent-" + "a" * 30, "mg-service-" + "b" * 30
    monkeypatch.setenv("AGENT_KEY", agent)
    monkeypatch.setenv("SERVICE_KEY", service)
    path = write(tmp_path, EXAMPLE + API_KEYS)
    assert "api_keys: 2 created" in run(path)
    ci, svc = ApiKey.objects.order_by("name")
    assert ci.user.username == "alice" and svc.user is None
    assert ci.secret_hash == hash_secret(agent) and agent not in ci.prefix + ci.name
    assert svc.allowed_models == ["claude-sonnet-4-6"] and svc.requests_per_minute == 60
    # the gateway resolves them: alice's key acts for alice, the other for acme
    assert load_key(hash_secret(agent)).user_id == ci.user_id
    assert (
        load_key(hash_secret(service)).principal.organization_id == svc.organization_id
    )
    # idempotent, and a new secret in the file replaces the stored hash
    assert "api_keys: 0 created, 0 updated, 2 unchanged" in run(path)
    monkeypatch.setenv("AGENT_KEY", "mg-rotated-" + "c" * 30)
    assert "api_keys: 0 created, 1 updated, 1 unchanged" in run(path)
    assert load_key(hash_secret(agent)) is None


def test_api_key_problems_are_reported_without_the_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENT_KEY", "short-secret")
    monkeypatch.setenv("SERVICE_KEY", "mg-service-" + "b" * 30)
    text = EXAMPLE + API_KEYS.replace("user: alice", "user: nobody")
    out = fail(write(tmp_path, text))
    assert "short-secret" not in out
    assert "api_keys[0].secret: An API key secret must be at least 24" in out
    assert "api_keys[0].user: 'nobody' is not a member of 'acme'" in out


def test_a_new_destination_without_auth_in_the_file_is_refused(
    tmp_path: Path, world: World
) -> None:
    first = """\
providers:
  - organization: acme
    name: moved
    type: openai_compatible
    endpoint: https://llm.example/v1
    auth: {method: bearer, api_key: sk-SECRET-stored-bootstrap}
"""
    run(write(tmp_path, first))
    moved = first.replace("https://llm.example/v1", "https://elsewhere.example/v1")
    output = fail(write(tmp_path, moved.replace(
        "    auth: {method: bearer, api_key: sk-SECRET-stored-bootstrap}\n", ""
    )))  # fmt: skip
    assert "the endpoint changed: give auth in the file" in output
    assert "sk-SECRET-stored-bootstrap" not in output
    assert Provider.objects.get(name="moved").endpoint == "https://llm.example/v1"
    run(write(tmp_path, moved))  # entering the key again is accepted
    assert Provider.objects.get(name="moved").endpoint == (
        "https://elsewhere.example/v1"
    )


def test_bootstrap_prices_survive_catalog_refresh(tmp_path: Path) -> None:
    """Review finding 5: the file's prices are the operator's, 0 included."""
    from models_catalog import price_catalog

    text = """\
organizations: [{slug: ops, name: Ops}]
providers:
  - organization: ops
    name: openai
    type: openai
    auth: {method: bearer, api_key: sk-test}
    models:
      - {model_id: gpt-4o-mini, input_cost_per_million: 9, output_cost_per_million: 9}
      - {model_id: gpt-4o, input_cost_per_million: 0, output_cost_per_million: 0}
      - {model_id: gpt-4.1}
"""
    run(write(tmp_path, text))
    provider = Provider.objects.get(name="openai")
    # Discovery had priced gpt-4o-mini from the catalog before the file's run.
    mini = AIModel.objects.get(provider=provider, model_id="gpt-4o-mini")
    mini.input_cost_per_million = Decimal("0.15")
    mini.output_cost_per_million = Decimal("0.60")
    mini.price_source = AIModel.PriceSource.CATALOG
    mini.save()
    run(write(tmp_path, text))

    price_catalog.refresh()

    def prices(model_id: str) -> tuple[Decimal, Decimal, str]:
        row = AIModel.objects.get(provider=provider, model_id=model_id)
        return (
            row.input_cost_per_million,
            row.output_cost_per_million,
            row.price_source,
        )

    assert prices("gpt-4o-mini") == (Decimal(9), Decimal(9), "manual")
    assert prices("gpt-4o") == (Decimal(0), Decimal(0), "manual")
    # A model the file does not price is the catalog's to price.
    assert prices("gpt-4.1") == (Decimal(2), Decimal(8), "catalog")
    # The refresh left the file's prices alone: a third run changes nothing.
    assert "models: 0 created, 0 updated," in run(write(tmp_path, text))
