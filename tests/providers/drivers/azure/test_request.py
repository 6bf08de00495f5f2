"""azure: request translation (canonical request → vendor body), pure vectors."""

from __future__ import annotations

from typing import Any

import pytest

from providers.drivers import driver_class
from providers.drivers.azure.driver import AzureOpenAIDriver
from providers.drivers.azure.translate import (
    azure_endpoint,
    build_azure_chat_body,
    chat_url,
    deployments_url,
    embeddings_url,
)
from tests.providers.drivers.azure.support import ENDPOINT, cfg
from tests.providers.drivers.vectors import user


def test_classic_urls_use_the_deployment_and_api_version() -> None:
    config = cfg(deployments={"gpt-4o": "prod gpt4o"})
    assert chat_url(config, "gpt-4o") == (
        f"{ENDPOINT}/openai/deployments/prod%20gpt4o/chat/completions"
        "?api-version=2024-10-21"
    )
    assert chat_url(config, "other") == (
        f"{ENDPOINT}/openai/deployments/other/chat/completions?api-version=2024-10-21"
    )
    custom = cfg(api_version="2025-04-01-preview")
    assert embeddings_url(custom, "emb") == (
        f"{ENDPOINT}/openai/deployments/emb/embeddings?api-version=2025-04-01-preview"
    )
    assert deployments_url(config) == (
        f"{ENDPOINT}/openai/deployments?api-version=2023-03-15-preview"
    )


def test_v1_urls() -> None:
    config = cfg(ENDPOINT + "/", api_surface="v1")
    assert chat_url(config, "x") == f"{ENDPOINT}/openai/v1/chat/completions"
    assert embeddings_url(config, "x") == f"{ENDPOINT}/openai/v1/embeddings"


@pytest.mark.parametrize(
    "base",
    [ENDPOINT, ENDPOINT + "/", ENDPOINT + "/openai", ENDPOINT + "/openai/v1/"],
)
def test_endpoint_tolerates_pasted_suffixes(base: str) -> None:
    assert azure_endpoint(base) == ENDPOINT


def test_v1_body_names_the_deployment() -> None:
    config = cfg(api_surface="v1", deployments={"gpt-4o": "prod"})
    body = build_azure_chat_body(config, {"messages": [user("x")]}, "gpt-4o", True)
    assert body == {
        "messages": [user("x")],
        "model": "prod",
        "stream": True,
        "stream_options": {"include_usage": True},
    }


@pytest.mark.parametrize(
    ("config", "converted"),
    [
        ({}, True),
        ({"api_version": "2024-06-01"}, True),
        ({"api_version": "2024-10-21"}, True),
        ({"api_version": "2024-12-01-preview"}, False),
        ({"api_version": "2025-04-01-preview"}, False),
        ({"api_surface": "v1"}, False),
    ],
)
def test_developer_role_conversion(config: dict[str, Any], converted: bool) -> None:
    request = {"messages": [{"role": "developer", "content": "rules"}, user("hi")]}
    body = build_azure_chat_body(cfg(**config), request, "d", stream=False)
    assert body["messages"][0]["role"] == ("system" if converted else "developer")
    assert request["messages"][0]["role"] == "developer"


def test_registry() -> None:
    assert driver_class("azure_openai") is AzureOpenAIDriver
