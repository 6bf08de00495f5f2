"""Changing where a provider's credentials go requires entering them again.

An org admin who points an existing provider at a host they control (endpoint,
base URL, OAuth2 token URL, Bedrock control endpoint, or a type with another
default endpoint) and leaves the credentials blank is refused with a field
error, and nothing is sent anywhere, not even by "Verify with the vendor
before saving". A loopback "attacker" server records every request it gets.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp import web
from django.test import Client

from providers import catalog
from providers.models import Provider
from tests.conftest import World
from tests.fakes.openai import new_app
from tests.fakes.server import FakeServer, serve

SECRET = "sk-SECRET-dest-7f3a9c1e5b"
AWS_SECRET = "AWS-SECRET-dest-2b8d4e6f0a"


@pytest.fixture
def attacker() -> Iterator[FakeServer]:
    """Answers every request 200 with an empty model list, and records it."""
    app = new_app(requests=[])

    async def record(request: web.Request) -> web.Response:
        body = await request.read()
        request.app["requests"].append(
            {"path": request.path_qs, "headers": dict(request.headers), "body": body}
        )
        return web.json_response({"data": [], "models": [], "object": "list"})

    app.router.add_route("*", "/{tail:.*}", record)
    with serve(app) as server:
        yield server


def _provider(world: World, kind: str) -> Provider:
    """An existing provider whose stored secret must never reach the attacker."""
    common = {"organization": world.acme, "name": f"victim-{kind}", "status": "active"}
    if kind == "oauth2":
        provider = Provider(
            provider_type="openai_compatible",
            endpoint="http://127.0.0.1:9/v1",
            auth_method="oauth2",
            **common,
        )
        provider.seal("credentials", {"client_secret": SECRET})
        provider.seal(
            "provider_config",
            {"token_url": "http://127.0.0.1:9/token", "client_id": "gateway"},
        )
    elif kind == "bedrock":
        provider = Provider(provider_type="bedrock", auth_method="aws_sigv4", **common)
        provider.seal(
            "credentials",
            {"access_key_id": "AKIDDESTTEST0001", "secret_access_key": AWS_SECRET},
        )
        provider.seal(
            "provider_config",
            {"region": "us-east-1", "control_endpoint": "http://127.0.0.1:9"},
        )
    else:
        provider = Provider(
            provider_type="openai",
            endpoint="http://127.0.0.1:9/v1",
            auth_method="bearer",
            **common,
        )
        provider.seal("credentials", {"api_key": SECRET})
        provider.seal("provider_config", {})
    provider.save()
    return provider


def _form(provider: Provider, **overrides: Any) -> dict[str, Any]:
    """The change form as shown (config values included), credentials left blank.

    Saving verifies with the vendor first (the default).
    """
    config = provider.get_config()
    data: dict[str, Any] = {
        "organization": provider.organization_id,
        "name": provider.name,
        "provider_type": provider.provider_type,
        "endpoint": provider.endpoint,
        "auth_method": provider.auth_method,
        "status": "active",
        "priority": "100",
        "timeout_connect": "5.0",
        "timeout_first_byte": "60.0",
        "timeout_total": "600.0",
        "_save": "Save",
    }
    for key in ("region", "token_url", "client_id"):
        if config.get(key):
            data[key] = config[key]
    extra = {k: v for k, v in config.items() if k not in ("region", "token_url")}
    extra.pop("client_id", None)
    if extra:
        data["extra_config"] = json.dumps(extra)
    data.update(overrides)
    return data


def _redirections(url: str) -> dict[str, tuple[str, dict[str, Any]]]:
    return {
        "endpoint": ("bearer", {"endpoint": f"{url}/v1"}),
        "base_url": ("bearer", {"endpoint": "", "base_url": f"{url}/v1"}),
        "provider_type": ("bearer", {"provider_type": "vllm", "endpoint": ""}),
        "token_url": ("oauth2", {"token_url": f"{url}/token"}),
        "control_endpoint": (
            "bedrock",
            {"extra_config": json.dumps({"control_endpoint": url})},
        ),
    }


@pytest.mark.parametrize(
    "change", ["endpoint", "base_url", "provider_type", "token_url", "control_endpoint"]
)
def test_redirecting_a_provider_with_blank_credentials_is_refused_and_sends_nothing(
    change: str, world: World, attacker: FakeServer
) -> None:
    kind, overrides = _redirections(attacker.url)[change]
    provider = _provider(world, kind)
    before = (provider.endpoint, provider.get_config(), provider.provider_type)
    client = Client()
    client.force_login(world.alice)
    response = client.post(
        f"/admin/providers/provider/{provider.pk}/change/",
        _form(provider, **overrides),
    )
    assert response.status_code == 200, response.status_code
    page = response.content.decode()
    assert "enter the credentials again" in page
    assert "The vendor check did not pass" not in page  # the check never ran
    assert attacker.app["requests"] == []
    provider.refresh_from_db()
    assert (provider.endpoint, provider.get_config(), provider.provider_type) == before


def test_entering_the_key_again_sends_only_the_new_key_to_the_new_endpoint(
    world: World, attacker: FakeServer
) -> None:
    provider = _provider(world, "bearer")
    client = Client()
    client.force_login(world.alice)
    response = client.post(
        f"/admin/providers/provider/{provider.pk}/change/",
        _form(provider, endpoint=f"{attacker.url}/v1", api_key="sk-NEW-key-entered"),
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    seen = attacker.app["requests"]
    assert seen and all(
        r["headers"].get("Authorization") == "Bearer sk-NEW-key-entered" for r in seen
    )
    assert SECRET not in repr(seen)


def test_an_unchanged_destination_keeps_the_stored_key_without_reentry(
    world: World,
) -> None:
    provider = _provider(world, "bearer")
    client = Client()
    client.force_login(world.alice)
    form = _form(provider, priority="7")
    form["save_without_verifying"] = "on"  # nothing listens at 127.0.0.1:9
    response = client.post(f"/admin/providers/provider/{provider.pk}/change/", form)
    assert response.status_code == 302
    provider.refresh_from_db()
    assert provider.priority == 7 and provider.get_credentials()["api_key"] == SECRET


def test_destinations_name_every_place_credentials_go() -> None:
    before = catalog.destinations(
        "openai_compatible",
        "https://llm.example/v1",
        {"token_url": "https://auth.example/token", "control_endpoint": ""},
    )
    assert before == {
        "endpoint": "https://llm.example/v1",
        "token_url": "https://auth.example/token",
        "control_endpoint": "",
        "agent_endpoint": "",  # Bedrock Agent Runtime (rerank)
    }
    same = catalog.destinations(
        "openai_compatible",
        "https://llm.example/v1/",
        {"token_url": "https://auth.example/token"},
    )
    assert catalog.changed_destinations(before, same) == []
    moved = catalog.destinations(
        "openai_compatible", "", {"base_url": "https://evil.example/v1"}
    )
    assert catalog.changed_destinations(before, moved) == ["endpoint", "token_url"]
