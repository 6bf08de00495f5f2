"""Credentials are verified with the vendor before save, by default (issue 11 point 2).

Against strict fake vendors on loopback: the vendor's reason is shown next to
the field it concerns (key, endpoint, region), scrubbed of secrets; "Save
without verifying" saves anyway; an endpoint on a private address is refused at
save, whatever the box says, unless PROVIDERS_ALLOW_PRIVATE_IPS allows it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from aiohttp import web
from django.conf import settings
from django.db import connection
from django.test import Client

from providers.models import Provider
from providers.verification import failure_fields
from tests.conftest import World
from tests.fakes import bedrock as bedrock_fake
from tests.fakes.server import free_port, serve
from tests.gateway import upstreams
from tests.gateway.upstreams import Upstream
from tests.providers.test_admin import ADD_URL, change_url, form_data, login

WRONG_KEY = "sk-wrong-VERY-SECRET-99"


@pytest.fixture
def openai() -> Iterator[Upstream]:
    with upstreams.start("openai") as upstream:
        yield upstream


@pytest.fixture
def bedrock() -> Iterator[Upstream]:
    with upstreams.start("bedrock") as upstream:
        yield upstream


def add(client: Client, world: World, **fields: Any) -> Any:
    data = {
        "organization": world.acme.pk,
        "name": "checked",
        "provider_type": "openai",
        "auth_method": "bearer",
        "status": "active",
        "priority": "100",
        "timeout_connect": "5",
        "timeout_first_byte": "60",
        "timeout_total": "600",
        **fields,
    }
    return client.post(ADD_URL, data)


def errors_of(response: Any) -> dict[str, list[str]]:
    assert response.status_code == 200, "saved, but should have been refused"
    return dict(response.context["adminform"].form.errors)


def test_a_wrong_key_is_refused_with_the_reason_on_the_key_field(
    world: World, openai: Upstream
) -> None:
    response = add(
        login(world.alice), world, endpoint=openai.endpoint, api_key=WRONG_KEY
    )
    errors = errors_of(response)
    assert any("Incorrect API key" in e for e in errors["api_key"])
    assert "endpoint" not in errors
    assert WRONG_KEY not in response.content.decode()
    assert not Provider.objects.filter(name="checked").exists()


def test_a_wrong_path_is_refused_with_the_reason_on_the_endpoint(
    world: World, openai: Upstream
) -> None:
    response = add(
        login(world.alice),
        world,
        endpoint=openai.endpoint.replace("/v1", "/v2"),
        api_key="sk-test-key",
    )
    errors = errors_of(response)
    assert "endpoint" in errors and "api_key" not in errors
    assert not Provider.objects.filter(name="checked").exists()


def test_an_unreachable_endpoint_is_refused_with_the_reason_on_the_endpoint(
    world: World,
) -> None:
    response = add(
        login(world.alice),
        world,
        endpoint=f"http://127.0.0.1:{free_port()}/v1",
        api_key="sk-test-key",
    )
    assert any("unreachable" in e for e in errors_of(response)["endpoint"])


def test_save_without_verifying_saves_what_the_vendor_would_refuse(
    world: World, openai: Upstream
) -> None:
    response = add(
        login(world.alice),
        world,
        endpoint=openai.endpoint,
        api_key=WRONG_KEY,
        save_without_verifying="on",
    )
    assert response.status_code == 302
    assert Provider.objects.get(name="checked").get_credentials() == {
        "api_key": WRONG_KEY
    }


def test_the_right_key_saves_after_one_vendor_call(
    world: World, openai: Upstream
) -> None:
    response = add(
        login(world.alice), world, endpoint=openai.endpoint, api_key="sk-test-key"
    )
    assert response.status_code == 302
    assert [r["path"] for r in openai.requests] == ["/v1/models"]


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]", "10.1.2.3"])
def test_a_private_endpoint_is_refused_at_save_naming_the_setting(
    world: World, settings: Any, host: str
) -> None:
    settings.PROVIDERS_ALLOW_PRIVATE_IPS = False
    response = add(
        login(world.alice),
        world,
        endpoint=f"http://{host}:11434",
        provider_type="ollama",
        auth_method="none",
        save_without_verifying="on",
    )
    (message,) = errors_of(response)["endpoint"]
    assert "PROVIDERS_ALLOW_PRIVATE_IPS" in message
    assert not Provider.objects.filter(name="checked").exists()


def test_a_metadata_address_is_refused_even_when_private_ones_are_allowed(
    world: World,
) -> None:
    response = add(
        login(world.alice),
        world,
        endpoint="http://169.254.169.254/v1",
        api_key="sk-test-key",
        save_without_verifying="on",
    )
    (message,) = errors_of(response)["endpoint"]
    assert "169.254.169.254" in message


def bedrock_form(upstream: Upstream, **fields: Any) -> dict[str, Any]:
    return {
        "provider_type": "bedrock",
        "auth_method": "aws_sigv4",
        "endpoint": upstream.endpoint,
        "region": bedrock_fake.REGION,
        "aws_access_key_id": bedrock_fake.ACCESS_KEY,
        "aws_secret_access_key": bedrock_fake.SECRET_KEY,
        "aws_session_token": "session-token-1",
        "extra_config": f'{{"control_endpoint": "{upstream.server.url}"}}',
        **fields,
    }


def test_bedrock_refusals_land_on_the_keys_or_the_region(
    world: World, bedrock: Upstream
) -> None:
    client = login(world.alice)
    wrong_secret = "wrongSecret000000000000000000000000000000"
    response = add(
        client, world, **bedrock_form(bedrock, aws_secret_access_key=wrong_secret)
    )
    errors = errors_of(response)
    assert "aws_secret_access_key" in errors and "region" not in errors
    assert wrong_secret not in response.content.decode()
    response = add(client, world, **bedrock_form(bedrock, region="eu-west-3"))
    errors = errors_of(response)
    assert any("region" in e for e in errors["region"])
    assert "aws_secret_access_key" not in errors
    response = add(client, world, **bedrock_form(bedrock))
    assert response.status_code == 302


@pytest.mark.parametrize(
    ("code", "message", "provider_type", "auth", "fields"),
    [
        ("upstream_auth_error", "refused", "openai", "bearer", ("api_key",)),
        (
            "upstream_auth_error",
            "refused",
            "openai",
            "custom_headers",
            ("custom_headers",),
        ),
        (
            "upstream_auth_error",
            "x",
            "bedrock",
            "aws_sigv4",
            ("aws_access_key_id", "aws_secret_access_key"),
        ),
        (
            "upstream_auth_error",
            "scoped to a valid region",
            "bedrock",
            "aws_sigv4",
            ("region",),
        ),
        (
            "upstream_auth_error",
            "OAuth2 token endpoint refused",
            "azure_openai",
            "oauth2",
            ("client_id", "client_secret"),
        ),
        (
            "upstream_unavailable",
            "OAuth2 token endpoint is unreachable",
            "azure_openai",
            "oauth2",
            ("token_url",),
        ),
        ("upstream_model_not_found", "404", "openai", "bearer", ("endpoint",)),
        ("upstream_unavailable", "does not resolve", "openai", "bearer", ("endpoint",)),
        ("upstream_timeout", "timed out", "ollama", "none", ("endpoint",)),
        ("upstream_blocked", "refused: loopback", "ollama", "none", ("endpoint",)),
    ],
)
def test_each_failure_is_shown_on_the_field_it_concerns(
    code: str, message: str, provider_type: str, auth: str, fields: tuple[str, ...]
) -> None:
    assert failure_fields(code, message, provider_type, auth) == fields


def refused_provider(openai: Upstream, world: World) -> Provider:
    """An active provider whose key the vendor has since revoked."""
    provider = upstreams.register(openai, world.acme, name="revoked")
    provider.seal("credentials", {"api_key": WRONG_KEY})
    provider.save()
    return provider


def post_change(client: Client, provider: Provider, **fields: Any) -> Any:
    data = form_data(provider, **fields)
    del data["save_without_verifying"]  # the admin did not tick it
    return client.post(change_url(provider), data)


def test_deactivating_a_refused_provider_needs_no_verification(
    world: World, openai: Upstream, django_capture_on_commit_callbacks: Any
) -> None:
    """Review finding 8: only a change of how it is reached, when active, is checked."""
    provider = refused_provider(openai, world)
    client = login(world.alice)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = post_change(client, provider, status="inactive")
    assert response.status_code == 302
    provider.refresh_from_db()
    assert provider.status == "inactive"
    # Renaming it and changing its priority and limits do not call the vendor either.
    with django_capture_on_commit_callbacks(execute=True) as more:
        response = post_change(
            client,
            provider,
            status="inactive",
            name="revoked-old",
            priority="5",
            requests_per_minute="60",
        )
    assert response.status_code == 302
    assert Provider.objects.get(pk=provider.pk).name == "revoked-old"
    assert openai.requests == []  # no verification, no check queued
    assert [c for c in (*callbacks, *more) if c.__module__ == "providers.tasks"] == []


def test_changing_the_key_of_an_active_provider_is_verified(
    world: World, openai: Upstream
) -> None:
    provider = refused_provider(openai, world)
    client = login(world.alice)
    response = post_change(client, provider, api_key="sk-other-wrong-key-77")
    errors = errors_of(response)
    assert any("Incorrect API key" in e for e in errors["api_key"])
    assert [r["path"] for r in openai.requests] == ["/v1/models"]
    # The same change to an inactive provider saves without calling the vendor.
    Provider.objects.filter(pk=provider.pk).update(status="inactive")
    response = post_change(
        client, provider, status="inactive", api_key="sk-other-wrong-key-77"
    )
    assert response.status_code == 302
    assert len(openai.requests) == 1


def transaction_watching_vendor(key: str) -> web.Application:
    """An OpenAI-like /models that notes, while it is being called, how many
    sessions of our database sit in an open transaction."""
    app = web.Application()
    app["open_transactions"] = []
    db = settings.DATABASES["default"]

    def count_open() -> int:
        with psycopg.connect(
            dbname=db["NAME"],
            user=db.get("USER") or None,
            password=db.get("PASSWORD") or None,
            host=db.get("HOST") or None,
            port=db.get("PORT") or None,
        ) as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname ="
                " current_database() AND state LIKE 'idle in transaction%%'"
            ).fetchone()
            return int(row[0]) if row else 0

    async def models(request: web.Request) -> web.Response:
        auth = request.headers.get("Authorization", "")
        app["open_transactions"].append((auth[-4:], count_open()))
        if auth != f"Bearer {key}":
            return web.json_response({"error": {"message": "bad key"}}, status=401)
        return web.json_response({"object": "list", "data": []})

    app.router.add_get("/v1/models", models)
    return app


@pytest.mark.django_db(transaction=True)
def test_the_vendor_is_called_outside_the_save_transaction(world: World) -> None:
    """Review finding 8: no DB transaction stays open during the vendor call."""
    if connection.vendor != "postgresql":
        pytest.skip("pg_stat_activity is PostgreSQL's")
    client = login(world.alice)
    with serve(transaction_watching_vendor("sk-good-key-1234")) as server:
        response = add(
            client, world, endpoint=server.url + "/v1", api_key="sk-good-key-1234"
        )
        assert response.status_code == 302
        calls = server.app["open_transactions"]
        # The check (then discovery, after the commit), with no transaction open.
        assert calls[0] == ("1234", 0)
        provider = Provider.objects.get(name="checked")
        response = post_change(client, provider, api_key="sk-wrong-key-5678")
        assert response.status_code == 200  # refused
        # One call for the key entered (the form is validated twice, the vendor
        # is asked once), and nothing open meanwhile.
        assert [c for c in calls if c[0] == "5678"] == [("5678", 0)]
        assert {open_ for _, open_ in calls} == {0}


def test_activating_after_an_unverified_key_change_is_verified(
    world: World, openai: Upstream
) -> None:
    """Second review, finding 2: a key saved while inactive is checked when the
    provider goes live, so two ordinary saves cannot make a wrong key active."""
    provider = upstreams.register(openai, world.acme, name="later")
    client = login(world.alice)
    Provider.objects.filter(pk=provider.pk).update(status="inactive")
    provider.refresh_from_db()
    response = post_change(client, provider, status="inactive", api_key=WRONG_KEY)
    assert response.status_code == 302  # inactive: nothing is called yet
    assert openai.requests == []
    provider.refresh_from_db()
    response = post_change(client, provider, status="active")
    errors = errors_of(response)
    assert any("Incorrect API key" in e for e in errors["api_key"])
    assert Provider.objects.get(pk=provider.pk).status == "inactive"
    assert [r["path"] for r in openai.requests] == ["/v1/models"]


@pytest.mark.django_db(transaction=True)
def test_save_as_new_calls_the_vendor_outside_the_transaction(world: World) -> None:
    """Second review, finding 3: Django honours ``_saveasnew`` in any POST; it is
    an add, and its vendor check too runs before the transaction opens."""
    if connection.vendor != "postgresql":
        pytest.skip("pg_stat_activity is PostgreSQL's")
    client = login(world.alice)
    with serve(transaction_watching_vendor("sk-good-key-1234")) as server:
        provider = Provider(
            organization=world.acme,
            name="original",
            provider_type="openai",
            endpoint=server.url + "/v1",
            auth_method="bearer",
        )
        provider.seal("credentials", {"api_key": "sk-good-key-1234"})
        provider.save()
        data = form_data(provider, name="copy", api_key="sk-good-key-1234")
        del data["save_without_verifying"]
        data["_saveasnew"] = "Save as new"
        response = client.post(change_url(provider), data)
        assert response.status_code == 302
        assert Provider.objects.filter(name="copy").exists()
        calls = server.app["open_transactions"]
        assert calls and {open_ for _, open_ in calls} == {0}


def test_a_keyless_provider_refused_by_a_keyed_server_marks_the_auth_method(
    world: World, openai: Upstream
) -> None:
    """Second review, finding 5: with "No authentication" preselected, the
    vendor's refusal points at the auth method (the key field is hidden)."""
    client = login(world.alice)
    response = add(
        client,
        world,
        provider_type="openai_compatible",
        endpoint=openai.endpoint,
        auth_method="none",
    )
    errors = errors_of(response)
    assert "auth_method" in errors
    assert any("choose the auth method" in e for e in errors["auth_method"])
    assert not Provider.objects.filter(name="checked").exists()


@pytest.mark.parametrize("key", ["control_endpoint", "agent_endpoint"])
def test_a_refused_bedrock_side_endpoint_is_shown_on_the_extra_config(
    world: World, bedrock: Upstream, key: str
) -> None:
    """Every place Bedrock's credentials go (the runtime, the control plane,
    the Agent Runtime of rerank) is checked at save: a metadata address in any
    of them is a form error on the field that sets it, not a server error."""
    fields = bedrock_form(bedrock, save_without_verifying="on")
    fields["extra_config"] = json.dumps({key: "http://169.254.169.254"})
    response = add(login(world.alice), world, **fields)
    (message,) = errors_of(response)["extra_config"]
    assert "169.254.169.254" in message
    assert not Provider.objects.filter(name="checked").exists()
