"""Provider types and auth methods: their defaults and validation rules."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import IntegrityError, transaction

from providers import catalog
from providers.catalog import AuthMethod, ProviderType
from providers.models import Provider
from tests.conftest import World
from tests.factories import ProviderFactory

PRESET_URLS = {
    ProviderType.OPENROUTER: "https://openrouter.ai/api/v1",
    ProviderType.GROQ: "https://api.groq.com/openai/v1",
    ProviderType.TOGETHER: "https://api.together.xyz/v1",
    ProviderType.FIREWORKS: "https://api.fireworks.ai/inference/v1",
    ProviderType.DEEPSEEK: "https://api.deepseek.com/v1",
    ProviderType.MISTRAL: "https://api.mistral.ai/v1",
    ProviderType.XAI: "https://api.x.ai/v1",
    ProviderType.VLLM: "http://localhost:8000/v1",
    ProviderType.COHERE: "https://api.cohere.ai/compatibility/v1",
}


def problems(
    provider_type: str = ProviderType.OPENAI,
    auth_method: str = AuthMethod.BEARER,
    endpoint: str = "",
    config: dict[str, Any] | None = None,
    credentials: dict[str, Any] | None = None,
) -> dict[str, list[str]]:
    return catalog.validate(
        provider_type, auth_method, endpoint, config or {}, credentials or {}
    )


def flat(errors: dict[str, list[str]] | list[str]) -> str:
    """All messages (of every field, or of one field's list) as one string."""
    if isinstance(errors, list):
        return " | ".join(errors)
    return " | ".join(m for messages in errors.values() for m in messages)


# Defaults -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("provider_type", "config", "expected"),
    [
        (ProviderType.OPENAI, {}, "https://api.openai.com/v1"),
        (ProviderType.ANTHROPIC, {}, "https://api.anthropic.com"),
        (
            ProviderType.BEDROCK,
            {"region": "eu-central-1"},
            "https://bedrock-runtime.eu-central-1.amazonaws.com",
        ),
        (ProviderType.BEDROCK, {}, ""),
        (ProviderType.OLLAMA, {}, "http://localhost:11434"),
        (
            ProviderType.GEMINI,
            {},
            "https://generativelanguage.googleapis.com/v1beta",
        ),
        (ProviderType.AZURE_OPENAI, {}, ""),
        (ProviderType.OPENAI_COMPATIBLE, {}, ""),
        *[(name, {}, url) for name, url in PRESET_URLS.items()],
    ],
)
def test_each_type_has_its_default_endpoint(
    provider_type: str, config: dict[str, Any], expected: str
) -> None:
    assert catalog.effective_endpoint(provider_type, "", config) == expected


def test_every_type_is_covered_by_a_default_test() -> None:
    covered = {
        ProviderType.OPENAI,
        ProviderType.ANTHROPIC,
        ProviderType.BEDROCK,
        ProviderType.OLLAMA,
        ProviderType.GEMINI,
        ProviderType.AZURE_OPENAI,
        ProviderType.OPENAI_COMPATIBLE,
        *PRESET_URLS,
    }
    assert covered == set(catalog.TYPES)


@pytest.mark.parametrize(
    ("provider_type", "method"),
    [
        (ProviderType.OPENAI, AuthMethod.BEARER),
        (ProviderType.ANTHROPIC, AuthMethod.X_API_KEY),
        (ProviderType.BEDROCK, AuthMethod.AWS_SIGV4),
        (ProviderType.OLLAMA, AuthMethod.NONE),
        (ProviderType.AZURE_OPENAI, AuthMethod.API_KEY),
        (ProviderType.GEMINI, AuthMethod.API_KEY),
        (ProviderType.GROQ, AuthMethod.BEARER),
        ("no-such-type", AuthMethod.BEARER),
    ],
)
def test_each_type_has_its_default_auth_method(provider_type: str, method: str) -> None:
    assert catalog.default_auth_method(provider_type) == method


def test_base_url_in_config_overrides_the_default() -> None:
    config = {"base_url": "https://proxy.example.test/openai/"}
    assert (
        catalog.effective_endpoint(ProviderType.OPENAI, "", config)
        == "https://proxy.example.test/openai"
    )


def test_an_explicit_endpoint_wins_over_config_and_default() -> None:
    config = {"base_url": "https://proxy.example.test", "region": "us-east-1"}
    for provider_type in (ProviderType.OPENAI, ProviderType.BEDROCK):
        assert (
            catalog.effective_endpoint(
                provider_type, " https://explicit.example.test/v1/ ", config
            )
            == "https://explicit.example.test/v1"
        )


def test_the_model_property_applies_the_same_rule(db: None) -> None:
    provider = ProviderFactory(
        provider_type=ProviderType.BEDROCK,
        auth_method=AuthMethod.AWS_SIGV4,
        config={"region": "ap-southeast-2"},
    )
    fresh = Provider.objects.get(pk=provider.pk)
    assert fresh.base_url == "https://bedrock-runtime.ap-southeast-2.amazonaws.com"


# Validation ---------------------------------------------------------------------


def test_a_complete_openai_provider_is_valid() -> None:
    assert problems(credentials={"api_key": "sk"}) == {}


def test_unknown_type_and_method_are_rejected() -> None:
    assert "provider_type" in problems(provider_type="nope")
    assert "auth_method" in problems(auth_method="nope")


@pytest.mark.parametrize(
    "credentials",
    [
        {"access_key_id": "AKIA", "secret_access_key": "s"},
        {"access_key_id": "AKIA", "secret_access_key": "s", "session_token": "t"},
    ],
)
def test_sigv4_with_region_and_keys_is_valid(credentials: dict[str, str]) -> None:
    errors = problems(
        ProviderType.BEDROCK,
        AuthMethod.AWS_SIGV4,
        config={"region": "us-west-2"},
        credentials=credentials,
    )
    assert errors == {}


@pytest.mark.parametrize(
    ("config", "credentials", "message"),
    [
        ({}, {"access_key_id": "A", "secret_access_key": "s"}, "needs a region"),
        ({"region": "us-west-2"}, {"secret_access_key": "s"}, "an access key id"),
        ({"region": "us-west-2"}, {"access_key_id": "A"}, "a secret access key"),
        (
            {"region": "mars"},
            {"access_key_id": "A", "secret_access_key": "s"},
            "not an AWS region",
        ),
    ],
)
def test_sigv4_needs_region_access_key_id_and_secret(
    config: dict[str, str], credentials: dict[str, str], message: str
) -> None:
    for provider_type in (ProviderType.BEDROCK, ProviderType.OPENAI_COMPATIBLE):
        errors = problems(
            provider_type,
            AuthMethod.AWS_SIGV4,
            endpoint="https://gw.example.test",
            config=config,
            credentials=credentials,
        )
        assert message in flat(errors)


def test_bedrock_only_authenticates_with_sigv4() -> None:
    errors = problems(
        ProviderType.BEDROCK,
        AuthMethod.BEARER,
        config={"region": "us-east-1"},
        credentials={"api_key": "k"},
    )
    assert "SigV4" in flat(errors["auth_method"])


@pytest.mark.parametrize(
    "name",
    [
        "Host",
        "host",
        "HOST",
        " Host ",
        "Content-Length",
        "content-length",
        "CONNECTION",
        "Transfer-Encoding",
        "transfer-ENCODING",
    ],
)
def test_custom_headers_may_not_set_hop_or_framing_headers(name: str) -> None:
    errors = problems(
        auth_method=AuthMethod.CUSTOM_HEADERS,
        credentials={"headers": {"X-Tenant": "t", name: "evil"}},
    )
    assert "may not set" in flat(errors["credentials"])
    extra = problems(
        config={"extra_headers": {name: "evil"}}, credentials={"api_key": "k"}
    )
    assert "may not set" in flat(extra["provider_config"])


@pytest.mark.parametrize("name", ["X-Key\n", "Host\n", "X-Key\r\nHost: evil"])
def test_a_header_name_with_a_line_break_is_rejected(name: str) -> None:
    custom = problems(
        auth_method=AuthMethod.CUSTOM_HEADERS, credentials={"headers": {name: "v"}}
    )
    assert "credentials" in custom
    api_key = problems(
        auth_method=AuthMethod.API_KEY,
        config={"auth_header": name},
        credentials={"api_key": "k"},
    )
    assert "cannot be used" in flat(api_key)


def test_a_region_with_a_trailing_newline_is_rejected() -> None:
    errors = problems(
        ProviderType.BEDROCK,
        AuthMethod.AWS_SIGV4,
        config={"region": "us-east-1\n"},
        credentials={"access_key_id": "A", "secret_access_key": "s"},
    )
    assert "not an AWS region" in flat(errors)


def test_custom_headers_accept_ordinary_names_and_reject_invalid_ones() -> None:
    ok = problems(
        auth_method=AuthMethod.CUSTOM_HEADERS,
        credentials={"headers": {"X-Api-Token": "t", "OpenAI-Organization": "o"}},
    )
    assert ok == {}
    bad = problems(
        auth_method=AuthMethod.CUSTOM_HEADERS,
        credentials={"headers": {"X Bad\r\nHost": "t"}},
    )
    assert "not a valid HTTP header name" in flat(bad)
    empty = problems(auth_method=AuthMethod.CUSTOM_HEADERS, credentials={"headers": {}})
    assert "at least one header" in flat(empty)


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.test",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "https://",
        "example.test/v1",
        "http:///path-only",
    ],
)
def test_an_endpoint_must_be_http_or_https_with_a_host(url: str) -> None:
    errors = problems(endpoint=url, credentials={"api_key": "k"})
    assert "http:// or https:// URL with a host" in flat(errors["endpoint"])
    via_config = problems(config={"base_url": url}, credentials={"api_key": "k"})
    assert "provider_config" in via_config


@pytest.mark.parametrize(
    "url", ["https://api.example.test/v1", "http://10.0.0.5:8000", "HTTPS://X.test"]
)
def test_http_and_https_endpoints_with_a_host_are_accepted(url: str) -> None:
    assert problems(endpoint=url, credentials={"api_key": "k"}) == {}


def test_types_that_need_an_endpoint_say_so() -> None:
    for provider_type in (ProviderType.AZURE_OPENAI, ProviderType.OPENAI_COMPATIBLE):
        errors = problems(provider_type, credentials={"api_key": "k"})
        assert "needs an endpoint URL" in flat(errors["endpoint"])


def test_the_api_key_method_needs_a_header_name() -> None:
    errors = problems(auth_method=AuthMethod.API_KEY, credentials={"api_key": "k"})
    assert "needs a header name" in flat(errors["provider_config"])
    ok = problems(
        auth_method=AuthMethod.API_KEY,
        config={"auth_header": "X-Key"},
        credentials={"api_key": "k"},
    )
    assert ok == {}
    # Azure and Gemini have a default header for the method.
    azure = problems(
        ProviderType.AZURE_OPENAI,
        AuthMethod.API_KEY,
        endpoint="https://r.openai.azure.com",
        credentials={"api_key": "k"},
    )
    assert azure == {}
    forbidden = problems(
        auth_method=AuthMethod.API_KEY,
        config={"auth_header": "Host"},
        credentials={"api_key": "k"},
    )
    assert "cannot be used" in flat(forbidden)
    not_text = problems(
        auth_method=AuthMethod.API_KEY,
        config={"auth_header": 42},
        credentials={"api_key": "k"},
    )
    assert "cannot be used" in flat(not_text)


@pytest.mark.parametrize(
    "method", [AuthMethod.BEARER, AuthMethod.X_API_KEY, AuthMethod.API_KEY]
)
def test_key_methods_need_an_api_key(method: str) -> None:
    errors = problems(auth_method=method, config={"auth_header": "X-Key"})
    assert "needs an API key" in flat(errors["credentials"])


def test_oauth2_needs_token_url_client_id_and_secret() -> None:
    errors = problems(auth_method=AuthMethod.OAUTH2)
    text = flat(errors)
    assert "'token_url'" in text
    assert "'client_id'" in text
    assert "client secret" in text
    bad_url = problems(
        auth_method=AuthMethod.OAUTH2,
        config={"token_url": "ftp://idp.test/token", "client_id": "c"},
        credentials={"client_secret": "s"},
    )
    assert "token_url must be an http(s) URL" in flat(bad_url)
    ok = problems(
        auth_method=AuthMethod.OAUTH2,
        config={"token_url": "https://idp.test/token", "client_id": "c"},
        credentials={"client_secret": "s"},
    )
    assert ok == {}


def test_no_auth_needs_no_credentials() -> None:
    assert problems(ProviderType.OLLAMA, AuthMethod.NONE) == {}


def test_azure_deployments_must_map_names_to_names() -> None:
    errors = problems(
        ProviderType.AZURE_OPENAI,
        AuthMethod.API_KEY,
        endpoint="https://r.openai.azure.com",
        config={"deployments": {"gpt-4o": 3}},
        credentials={"api_key": "k"},
    )
    assert "deployments" in flat(errors)


def test_a_config_that_is_not_an_object_is_rejected() -> None:
    errors = catalog.validate(ProviderType.OPENAI, AuthMethod.BEARER, "", [], {})  # type: ignore[arg-type]
    assert "provider_config" in errors


# Several providers per organization ------------------------------------------------


def test_several_providers_of_one_vendor_coexist_in_an_organization(
    world: World,
) -> None:
    work = ProviderFactory(
        organization=world.acme, name="openai-work", secrets={"api_key": "sk-work"}
    )
    research = ProviderFactory(
        organization=world.acme,
        name="openai-research",
        endpoint="https://proxy.example.test/v1",
        secrets={"api_key": "sk-research"},
    )
    providers = Provider.objects.filter(
        organization=world.acme, provider_type=ProviderType.OPENAI
    )
    assert set(providers) == {work, research}
    by_name = {p.name: p for p in providers}
    assert by_name["openai-work"].get_credentials() == {"api_key": "sk-work"}
    assert by_name["openai-research"].get_credentials() == {"api_key": "sk-research"}
    assert by_name["openai-work"].base_url == "https://api.openai.com/v1"
    assert by_name["openai-research"].base_url == "https://proxy.example.test/v1"
    for provider in providers:
        provider.full_clean()


def test_provider_names_are_unique_per_organization(world: World) -> None:
    ProviderFactory(organization=world.acme, name="main")
    ProviderFactory(organization=world.globex, name="main")  # another org: fine
    with pytest.raises(IntegrityError), transaction.atomic():
        ProviderFactory(organization=world.acme, name="main")
    assert Provider.objects.filter(name="main").count() == 2
