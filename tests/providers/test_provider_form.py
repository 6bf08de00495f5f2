"""The provider form per type: its field map, defaults, and what it stores.

Issue 11 point 1: only the fields the type and auth method use (the map comes
from the vendor specs), the auth method preselected, one endpoint field (an old
config base_url moves into it), and values of fields that do not apply are
dropped on the server, whatever was posted.
"""

from __future__ import annotations

import json
from typing import Any

from django.test import Client

from providers import catalog
from providers.drivers.azure import translate as azure_translate
from providers.models import Provider
from tests.conftest import World
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
    assert azure["settings"] == ["api_version", "deployments"]
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
    assert catalog.form_fields_for("openai", "bearer") == {"api_key"}
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
