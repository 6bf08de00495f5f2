"""The SSRF matrix: every outbound path x every spelling of loopback.

Each cell points one outbound path at a loopback listener (``ConnectionCounter``
on 127.0.0.1 and ::1) through one spelling of the address, with private
addresses disallowed, and asserts: the listener accepted 0 connections and the
answer is a clean refusal (a 4xx/5xx envelope other than 500, a ``failed``
health, a DriverError). The image path runs with private addresses *allowed*
for providers, to prove its own guard does not follow that setting. Only
loopback is ever a connect target; "intranet.test" resolves to 127.0.0.1
through ``fake_dns``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from django.test import Client

from gateway.models import ApiKey
from models_catalog.discovery import fetch_models
from models_catalog.models import AIModel, Grant
from providers.drivers.errors import DriverError
from providers.health import check_provider
from providers.models import Provider
from tests.conftest import World
from tests.fakes.net import counting, fake_dns
from tests.gateway import upstreams

FORMS = [
    "127.0.0.1",
    "127.1",
    "0177.0.0.1",
    "2130706433",
    "0x7f000001",
    "[::1]",
    "[::ffff:127.0.0.1]",
    "localhost",
    "intranet.test",
]


class Cell:
    """One path x form: a provider pointed at the listener through ``form``."""

    def __init__(self, world: World, form: str, port: int, index: int) -> None:
        self.world, self.form, self.port, self.index = world, form, port, index
        self.url = f"http://{form}:{port}"
        self.model = f"ssrf-{index}"

    def provider(self, kind: str = "openai", **fields: Any) -> Provider:
        if kind == "bedrock":
            fields = {
                "provider_type": "bedrock",
                "auth_method": "aws_sigv4",
                # the runtime goes to a blocked literal too, in case
                "endpoint": f"http://127.0.0.1:{self.port}",
                "credentials": {
                    "access_key_id": "AKIDSSRFTEST00000001",
                    "secret_access_key": "ssrf-secret-0000000000000000000000000000",
                },
                "config": {
                    "region": "us-east-1",
                    "control_endpoint": self.url,
                    "agent_endpoint": self.url,
                },
            }
        elif kind == "cohere":
            fields = {
                "provider_type": "cohere",
                "auth_method": "bearer",
                "endpoint": f"{self.url}/compatibility/v1",
                "credentials": {"api_key": "co-ssrf-test"},
                "config": {},
            }
        elif kind == "oauth2":
            fields = {
                "provider_type": "openai",
                "auth_method": "oauth2",
                "endpoint": f"http://127.0.0.1:{self.port}/v1",
                "credentials": {"client_secret": "ssrf-client-secret"},
                "config": {"token_url": f"{self.url}/token", "client_id": "cid"},
            }
        else:
            fields = {
                "provider_type": "openai",
                "auth_method": "bearer",
                "endpoint": f"{self.url}/v1",
                "credentials": {"api_key": "sk-ssrf-test"},
                "config": {},
            }
        provider = Provider(
            organization=self.world.acme,
            name=f"ssrf-{self.index}",
            provider_type=fields["provider_type"],
            endpoint=fields["endpoint"],
            auth_method=fields["auth_method"],
        )
        provider.seal("credentials", fields["credentials"])
        provider.seal("provider_config", fields["config"])
        provider.save()
        for model_id, kind_ in (
            (self.model, AIModel.ModelType.INFERENCE),
            (f"{self.model}-embed", AIModel.ModelType.EMBEDDING),
        ):
            model = AIModel.objects.create(
                provider=provider,
                organization=self.world.acme,
                model_id=model_id,
                model_type=kind_,
            )
            Grant.objects.create(model=model, organization=self.world.acme)
        return provider


def _v1(gateway: Any, secret: str, path: str, body: dict[str, Any]) -> httpx.Response:
    with httpx.Client(timeout=30, trust_env=False) as client:
        return client.post(
            f"{gateway.v1}/{path}",
            json=body,
            headers={"Authorization": f"Bearer {secret}"},
        )


def _clean_v1(response: httpx.Response) -> str:
    assert 400 <= response.status_code < 600 and response.status_code != 500, (
        response.status_code,
        response.text[:500],
    )
    error = response.json()["error"]
    assert set(error) >= {"message", "type", "code"}
    assert "gaierror" not in error["message"] and "Errno" not in error["message"]
    return f"{response.status_code} {error['code']}"


def _chat(cell: Cell, ctx: dict[str, Any], **extra: Any) -> str:
    body = {"model": cell.model, "messages": [{"role": "user", "content": "hi"}]}
    return _clean_v1(
        _v1(ctx["gateway"], ctx["secret"], "chat/completions", body | extra)
    )


def path_chat(cell: Cell, ctx: dict[str, Any]) -> str:
    cell.provider()
    return _chat(cell, ctx)


def path_stream(cell: Cell, ctx: dict[str, Any]) -> str:
    cell.provider()
    return _chat(cell, ctx, stream=True)


def path_embeddings(cell: Cell, ctx: dict[str, Any]) -> str:
    cell.provider()
    body = {"model": f"{cell.model}-embed", "input": "hi"}
    return _clean_v1(_v1(ctx["gateway"], ctx["secret"], "embeddings", body))


def _rerank(cell: Cell, ctx: dict[str, Any], kind: str) -> str:
    provider = cell.provider(kind)
    model = AIModel.objects.create(
        provider=provider,
        organization=cell.world.acme,
        model_id=f"{cell.model}-rerank",
        model_type=AIModel.ModelType.RERANK,
    )
    Grant.objects.create(model=model, organization=cell.world.acme)
    body = {"model": model.model_id, "query": "q", "documents": ["d"]}
    return _clean_v1(_v1(ctx["gateway"], ctx["secret"], "rerank", body))


def path_cohere_rerank(cell: Cell, ctx: dict[str, Any]) -> str:
    return _rerank(cell, ctx, "cohere")


def path_bedrock_agent_runtime(cell: Cell, ctx: dict[str, Any]) -> str:
    return _rerank(cell, ctx, "bedrock")


def path_oauth2_token_url(cell: Cell, ctx: dict[str, Any]) -> str:
    cell.provider("oauth2")
    return _chat(cell, ctx)


def _health(provider: Provider) -> str:
    result = check_provider(provider)
    assert result.health == Provider.Health.FAILED, result
    return "failed"


def path_health_check(cell: Cell, ctx: dict[str, Any]) -> str:
    return _health(cell.provider())


def path_bedrock_control_plane(cell: Cell, ctx: dict[str, Any]) -> str:
    provider = cell.provider("bedrock")
    _health(provider)
    return _discovery(provider)


def _discovery(provider: Provider) -> str:
    with pytest.raises(DriverError) as err:
        fetch_models(provider)
    assert err.value.status in (502, 503), err.value
    return f"{err.value.status} {err.value.code}"


def path_discovery(cell: Cell, ctx: dict[str, Any]) -> str:
    return _discovery(cell.provider())


def path_admin_check_health_now(cell: Cell, ctx: dict[str, Any]) -> str:
    provider = cell.provider()
    response = ctx["admin"].post(
        "/admin/providers/provider/",
        {"action": "check_health_now", "index": 0, "_selected_action": [provider.pk]},
        follow=True,
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert f"{provider.name.capitalize()}: failed" in page, page[
        page.find("messagelist") :
    ][:800]
    return "failed"


def path_admin_verify(cell: Cell, ctx: dict[str, Any]) -> str:
    response = ctx["admin"].post(
        "/admin/providers/provider/add/",
        {
            "organization": cell.world.acme.pk,
            "name": f"verify-{cell.index}",
            "provider_type": "openai",
            "endpoint": f"{cell.url}/v1",
            "auth_method": "bearer",
            "api_key": "sk-ssrf-test",
            "status": "active",
            "priority": 100,
            "timeout_connect": 5,
            "timeout_first_byte": 60,
            "timeout_total": 600,
            "verify_credentials": "on",
        },
    )
    assert response.status_code == 200  # the form again, with its error
    assert not Provider.objects.filter(name=f"verify-{cell.index}").exists()
    return "refused"


def path_image_url(cell: Cell, ctx: dict[str, Any]) -> str:
    body = {
        "model": ctx["ollama_model"],
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "look"},
                    {"type": "image_url", "image_url": {"url": f"{cell.url}/cat.png"}},
                ],
            }
        ],
    }
    response = _v1(ctx["gateway"], ctx["secret"], "chat/completions", body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["code"], error["param"]) == (
        "invalid_image_url",
        "messages[0].content[1].image_url.url",
    )
    return "400 invalid_image_url"


PATHS: dict[str, Callable[[Cell, dict[str, Any]], str]] = {
    "chat": path_chat,
    "stream": path_stream,
    "embeddings": path_embeddings,
    "health check": path_health_check,
    "discovery": path_discovery,
    "admin check health now": path_admin_check_health_now,
    "admin verify": path_admin_verify,
    "bedrock control plane": path_bedrock_control_plane,
    "bedrock agent runtime (rerank)": path_bedrock_agent_runtime,
    "cohere rerank": path_cohere_rerank,
    "oauth2 token url": path_oauth2_token_url,
    "image url": path_image_url,
}


@pytest.mark.parametrize("transport", ["aiohttp", "httpx"])
def test_no_outbound_path_reaches_loopback_in_any_spelling(
    transport: str,
    gateway: Any,
    world: World,
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings.PROVIDERS_HTTP_TRANSPORT = transport
    fake_dns(monkeypatch, {"intranet.test": ["127.0.0.1"]})
    world.alice.is_superuser = True
    world.alice.save()
    admin = Client()
    admin.force_login(world.alice)
    _, secret = ApiKey.issue(organization=world.acme, user=world.bob, name="ssrf")
    outcomes: Counter[str] = Counter()
    leaks: list[str] = []
    with upstreams.start("ollama") as ollama:
        upstreams.register(ollama, world.acme, name="ollama-images")
        ctx = {
            "gateway": gateway,
            "secret": secret,
            "admin": admin,
            "ollama_model": ollama.chat_model,
        }
        index = 0
        for name, path in PATHS.items():
            # The image guard must hold even where providers may go private.
            settings.PROVIDERS_ALLOW_PRIVATE_IPS = name == "image url"
            for form in FORMS:
                index += 1
                with counting() as listener:
                    outcome = path(Cell(world, form, listener.port, index), ctx)
                outcomes[f"{name}: {outcome}"] += 1
                if listener.connections:
                    leaks.append(f"{name} via {form}: {listener.connections}")
        assert ollama.requests == []  # no image path reached the vendor either
    cells = len(PATHS) * len(FORMS)
    print(
        f"\nSSRF matrix ({transport}): {cells} cells "
        f"({len(PATHS)} paths x {len(FORMS)} forms), {len(leaks)} reached loopback"
    )
    for outcome, count in sorted(outcomes.items()):
        print(f"  {outcome}: {count}")
    assert sum(outcomes.values()) == cells
    assert leaks == []


def test_an_unresolvable_or_blocked_provider_fails_over_to_the_next(
    gateway: Any, world: World, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_dns(monkeypatch, {})
    _, secret = ApiKey.issue(organization=world.acme, user=world.bob, name="fo")
    with upstreams.start("openai") as upstream:
        dead = upstreams.register(upstream, world.acme, name="dead", priority=1)
        dead.endpoint = "http://no-such-host.test/v1"
        dead.save()
        upstreams.register(upstream, world.acme, name="live", priority=2)
        body = {
            "model": upstream.chat_model,
            "messages": [{"role": "user", "content": "hi"}],
        }
        settings.PROVIDERS_ALLOW_PRIVATE_IPS = True
        answered = _v1(gateway, secret, "chat/completions", body)
        settings.PROVIDERS_ALLOW_PRIVATE_IPS = False
        refused = _v1(gateway, secret, "chat/completions", body)
    # The unresolvable first candidate is skipped: the fake answers.
    assert answered.status_code == 200, answered.text
    # With private addresses disallowed the fake is blocked too: the answer is
    # the last candidate's clean refusal, not a 500 from the first.
    assert _clean_v1(refused) == "502 upstream_blocked"
    assert "PROVIDERS_ALLOW_PRIVATE_IPS" in refused.json()["error"]["message"]


def test_a_shared_providers_refusal_tells_other_organizations_nothing_of_its_setup(
    gateway: Any, world: World, settings: Any
) -> None:
    """Globex uses acme's provider through a grant: when it is blocked, globex
    gets the status and code, acme alone the host, address and setting."""
    acme_key = ApiKey.issue(organization=world.acme, user=world.alice, name="own")[1]
    globex_key = ApiKey.issue(organization=world.globex, user=None, name="svc")[1]
    with upstreams.start("openai") as upstream:
        upstreams.register(upstream, world.acme, name="shared", grant_to=world.globex)
        body = {
            "model": upstream.chat_model,
            "messages": [{"role": "user", "content": "hi"}],
        }
        settings.PROVIDERS_ALLOW_PRIVATE_IPS = False
        own = _v1(gateway, acme_key, "chat/completions", body)
        shared = _v1(gateway, globex_key, "chat/completions", body)
    assert _clean_v1(own) == _clean_v1(shared) == "502 upstream_blocked"
    assert "PROVIDERS_ALLOW_PRIVATE_IPS" in own.json()["error"]["message"]
    told = shared.json()["error"]["message"]
    for detail in ("PROVIDERS_ALLOW_PRIVATE_IPS", "127.0.0.1", "loopback"):
        assert detail not in told
