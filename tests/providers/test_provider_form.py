"""The provider form per type: its field map, defaults, and what it stores.

Issue 11 point 1: only the fields the type and auth method use (the map comes
from the vendor specs), the auth method preselected, one endpoint field (an old
config base_url moves into it), and values of fields that do not apply are
dropped on the server, whatever was posted.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web
from django.test import Client

from providers import catalog
from providers.drivers.azure import translate as azure_translate
from providers.models import Provider
from tests.conftest import World
from tests.fakes.server import serve
from tests.providers.test_admin import ADD_URL, SECRET, change_url, form_data, login


def field_map_of(page: str) -> dict[str, Any]:
    start = page.index('<script id="provider-field-map" type="application/json">')
    body = page[page.index(">", start) + 1 : page.index("</script>", start)]
    return json.loads(body)  # type: ignore[no-any-return]  # a JSON object


def test_the_field_map_is_built_from_the_vendor_specs() -> None:
    field_map = catalog.form_field_map()
    assert set(field_map["types"]) == set(catalog.TYPES)
    openai, bedrock = field_map["types"]["openai"], field_map["types"]["bedrock"]
    azure = field_map["types"]["azure_openai"]
    assert openai["auths"][0] == "bearer"
    assert openai["placeholders"]["endpoint"] == "https://api.openai.com/v1"
    assert bedrock["auths"] == ["aws_sigv4"]
    assert bedrock["settings"] == ["region"]
    assert "session token" in bedrock["help"]
    assert azure["auths"][0] == "api_key"
    assert azure["settings"] == ["api_version", "deployments", "wire_api"]
    assert azure["placeholders"]["api_version"] == azure_translate.DEFAULT_API_VERSION
    assert azure["placeholders"]["auth_header"] == "api-key"
    assert "api-version" in azure["help"] and "deployment" in azure["help"]
    assert "localhost:11434" in field_map["types"]["ollama"]["help"]
    assert field_map["auth"]["oauth2"] == [
        "token_url",
        "client_id",
        "scope",
        "client_secret",
    ]
    assert catalog.form_fields_for("openai", "bearer") == {"api_key", "wire_api"}
    assert "base_url" not in field_map["conditional"]


def test_the_add_page_preselects_the_auth_method_and_has_one_endpoint_field(
    world: World,
) -> None:
    page = login(world.alice).get(ADD_URL).content.decode()
    assert 'id="id_base_url"' not in page
    auth = page[
        page.index('id="id_auth_method"') : page.index(
            "</select>", page.index('id="id_auth_method"')
        )
    ]
    assert "---------" not in auth
    assert '<option value="bearer" selected>' in auth
    kind = page[
        page.index('id="id_provider_type"') : page.index(
            "</select>", page.index('id="id_provider_type"')
        )
    ]
    assert "---------" not in kind and '<option value="openai" selected>' in kind
    assert 'placeholder="https://api.openai.com/v1"' in page
    assert field_map_of(page) == catalog.form_field_map()
    assert "providers/provform.js" in page
    assert "Save without verifying" in page
    assert "Verify with the vendor" not in page


def test_values_of_fields_that_do_not_apply_are_dropped_not_stored(
    world: World,
) -> None:
    response = login(world.alice).post(
        ADD_URL,
        form_data(
            organization=world.acme.pk,
            name="plain-openai",
            api_key=SECRET,
            region="us-east-1",
            aws_access_key_id="AKIDNOTFOROPENAI",
            aws_secret_access_key="not-for-openai-secret",
            client_secret="not-for-openai-either",
            token_url="https://login.example/token",
            client_id="someone",
            api_version="2024-10-21",
            deployments='{"gpt-4o": "prod"}',
            auth_header="X-Key",
        ),
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    provider = Provider.objects.get(name="plain-openai")
    assert provider.get_credentials() == {"api_key": SECRET}
    assert provider.get_config() == {}
    assert provider.auth_method == "bearer"


def test_a_bedrock_provider_keeps_its_region_and_aws_keys_only(world: World) -> None:
    response = login(world.alice).post(
        ADD_URL,
        form_data(
            organization=world.acme.pk,
            name="bedrock",
            provider_type="bedrock",
            auth_method="aws_sigv4",
            region="eu-west-3",
            api_key="sk-not-for-bedrock",
            aws_access_key_id="AKIDBEDROCK0001",
            aws_secret_access_key="bedrock-secret-0001",
            api_version="2024-10-21",
        ),
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    provider = Provider.objects.get(name="bedrock")
    assert provider.get_config() == {"region": "eu-west-3"}
    assert provider.get_credentials() == {
        "access_key_id": "AKIDBEDROCK0001",
        "secret_access_key": "bedrock-secret-0001",
    }


def test_an_old_base_url_is_shown_as_the_endpoint_and_moved_there_on_save(
    world: World,
) -> None:
    provider = Provider(
        organization=world.acme,
        name="old-row",
        provider_type="openai_compatible",
        auth_method="bearer",
    )
    provider.seal("credentials", {"api_key": SECRET})
    provider.seal("provider_config", {"base_url": "https://llm.example/v1", "x": 1})
    provider.save()
    client = login(world.alice)
    form = client.get(change_url(provider)).context["adminform"].form
    assert form.initial["endpoint"] == "https://llm.example/v1"
    assert "base_url" not in form.fields
    response = client.post(
        change_url(provider),
        form_data(
            provider,
            endpoint="https://llm.example/v1",
            extra_config='{"x": 1}',
        ),
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    provider.refresh_from_db()
    assert provider.endpoint == "https://llm.example/v1"
    assert provider.get_config() == {"x": 1}
    # Same destination: the stored key stays without being entered again.
    assert provider.get_credentials() == {"api_key": SECRET}


def test_a_blank_stored_auth_method_shows_as_the_types_default(world: World) -> None:
    provider = Provider(
        organization=world.acme, name="blank-auth", provider_type="anthropic"
    )
    provider.seal("credentials", {"api_key": SECRET})
    provider.save()
    assert provider.auth_method == ""
    client: Client = login(world.alice)
    page = client.get(change_url(provider)).content.decode()
    auth = page[page.index('id="id_auth_method"') :]
    assert '<option value="x_api_key" selected>' in auth[: auth.index("</select>")]
    placeholder = 'placeholder="https://api.anthropic.com"'
    assert placeholder in page


def test_the_type_help_is_text_even_without_the_script(world: World) -> None:
    client = login(world.alice)
    page = client.get(ADD_URL).content.decode()
    assert "OpenAI: an API key from platform.openai.com" in page
    response = client.post(ADD_URL, {"provider_type": "azure_openai"})
    assert "https://&lt;resource&gt;.openai.azure.com" in response.content.decode()


def test_api_key_auth_shows_only_a_header_default_the_server_applies(
    world: World,
) -> None:
    """Review finding 7: no placeholder promises a header the server would not use."""
    field_map = catalog.form_field_map()["types"]
    for name in catalog.TYPES:
        shown = field_map[name]["placeholders"].get("auth_header")
        default = catalog.API_KEY_HEADER_DEFAULTS.get(name, ("", ""))[0]
        assert shown == (default or None), name
    assert field_map["azure_openai"]["placeholders"]["auth_header"] == "api-key"
    client = login(world.alice)
    assert 'placeholder="X-API-Key"' not in client.get(ADD_URL).content.decode()
    response = client.post(
        ADD_URL,
        form_data(
            organization=world.acme.pk,
            name="compat",
            provider_type="openai_compatible",
            endpoint="https://llm.example/v1",
            auth_method="api_key",
            api_key=SECRET,
            auth_header="",
        ),
    )
    assert response.status_code == 200
    form = response.context["adminform"].form
    assert any("header name" in e for e in form.errors["auth_header"])
    assert not any("header name" in e for e in form.non_field_errors())
    assert not Provider.objects.filter(name="compat").exists()
    # With the header entered, the same provider saves.
    response = client.post(
        ADD_URL,
        form_data(
            organization=world.acme.pk,
            name="compat",
            provider_type="openai_compatible",
            endpoint="https://llm.example/v1",
            auth_method="api_key",
            api_key=SECRET,
            auth_header="X-API-Key",
        ),
    )
    assert response.status_code == 302
    assert Provider.objects.get(name="compat").get_config() == {
        "auth_header": "X-API-Key"
    }


def keyless_models_app() -> web.Application:
    """A vLLM-like server started without --api-key: it answers anyone."""
    app = web.Application()
    app["headers"] = []

    async def models(request: web.Request) -> web.Response:
        app["headers"].append(dict(request.headers))
        return web.json_response(
            {"object": "list", "data": [{"id": "llama-3", "object": "model"}]}
        )

    app.router.add_get("/v1/models", models)
    return app


def test_vllm_without_key_saves_with_preselected_auth(world: World) -> None:
    """Review finding 7: a keyless server saves with what the form preselects."""
    field_map = catalog.form_field_map()["types"]
    assert field_map["vllm"]["auths"][0] == "none"
    assert field_map["openai_compatible"]["auths"][0] == "none"
    assert "bearer" in field_map["vllm"]["auths"]
    client = login(world.alice)
    with serve(keyless_models_app()) as server:
        data = form_data(
            organization=world.acme.pk,
            name="local-vllm",
            provider_type="vllm",
            endpoint=server.url + "/v1",
            auth_method=field_map["vllm"]["auths"][0],
        )
        del data["save_without_verifying"]  # the vendor check runs
        response = client.post(ADD_URL, data)
        assert response.status_code == 302, response.context["adminform"].form.errors
        assert [h.get("Authorization") for h in server.app["headers"]] == [None]
    provider = Provider.objects.get(name="local-vllm")
    assert provider.auth_method == "none"


def test_a_stored_blank_auth_method_of_a_keyed_vllm_still_means_bearer(
    world: World,
) -> None:
    """Only the form's preselection changed: existing rows behave as before."""
    provider = Provider(organization=world.acme, name="old-vllm", provider_type="vllm")
    provider.seal("credentials", {"api_key": SECRET})
    provider.save()
    assert provider.effective_auth_method == "bearer"
    assert provider.driver_config().auth_method == "bearer"
    page = login(world.alice).get(change_url(provider)).content.decode()
    auth = page[page.index('id="id_auth_method"') :]
    assert '<option value="bearer" selected>' in auth[: auth.index("</select>")]


def test_the_wire_api_setting_is_shown_and_kept_for_openai_types_only(
    world: World,
) -> None:
    types = catalog.form_field_map()["types"]
    with_it = {name for name, spec in types.items() if "wire_api" in spec["settings"]}
    assert {"openai", "azure_openai", "openai_compatible", "groq", "vllm"} <= with_it
    assert not with_it & {"anthropic", "bedrock", "gemini", "ollama"}
    page = login(world.alice).get(ADD_URL).content.decode()
    assert 'name="wire_api"' in page and '<option value="responses">' in page
    client = login(world.alice)
    response = client.post(
        ADD_URL,
        form_data(
            organization=world.acme.pk,
            name="openai-responses",
            api_key=SECRET,
            wire_api="responses",
        ),
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert Provider.objects.get(name="openai-responses").get_config() == {
        "wire_api": "responses"
    }
    response = client.post(
        ADD_URL,
        form_data(
            organization=world.acme.pk,
            name="claude",
            provider_type="anthropic",
            auth_method="x_api_key",
            api_key=SECRET,
            wire_api="responses",
        ),
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert Provider.objects.get(name="claude").get_config() == {}
    response = client.post(
        ADD_URL,
        form_data(
            organization=world.acme.pk,
            name="bad-wire",
            api_key=SECRET,
            wire_api="grpc",
        ),
    )
    assert response.status_code == 200
    assert "wire_api" in response.context["adminform"].form.errors


def test_the_catalog_refuses_a_wire_api_where_it_does_not_apply() -> None:
    anthropic = catalog.validate(
        "anthropic", "x_api_key", "", {"wire_api": "responses"}, {"api_key": "k"}
    )
    assert "only OpenAI-type providers" in anthropic["provider_config"][0]
    openai = catalog.validate(
        "openai", "bearer", "", {"wire_api": "grpc"}, {"api_key": "k"}
    )
    assert "'grpc' is not a wire API" in openai["provider_config"][0]
    assert (
        catalog.validate(
            "azure_openai",
            "api_key",
            "https://x.openai.azure.com",
            {"wire_api": "responses"},
            {"api_key": "k"},
        )
        == {}
    )
