"""Azure OpenAI (PROTOCOLS.md section 4): what the vendor needs, declared.

An endpoint (the resource URL) is required; auth defaults to the ``api-key``
header; ``api_version`` defaults to ``translate.DEFAULT_API_VERSION``.
Modules: ``translate``, ``response``, ``errors``, ``discovery``, ``driver``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from providers.drivers.vendor import AuthMethod, VendorSpec


def check(config: Mapping[str, Any]) -> list[str]:
    """``deployments`` must map model names to deployment names."""
    deployments = config.get("deployments")
    if deployments is None or (
        isinstance(deployments, dict)
        and all(
            isinstance(k, str) and isinstance(v, str) for k, v in deployments.items()
        )
    ):
        return []
    return ["Azure 'deployments' must map model names to deployment names."]


VENDORS = [
    VendorSpec(
        provider_type="azure_openai",
        label="Azure OpenAI",
        driver="providers.drivers.azure.driver.AzureOpenAIDriver",
        default_endpoint="",
        default_auth=AuthMethod.API_KEY,
        endpoint_required=True,
        api_key_header=("api-key", ""),
        check=check,
        help="Azure OpenAI: the resource URL (https://<resource>.openai.azure.com), "
        "the resource's key (sent in the api-key header) or OAuth2 client "
        "credentials from Microsoft Entra ID, the api-version to call, and the "
        "deployments: which deployment serves each model name.",
        settings=("api_version", "deployments", "wire_api"),
        placeholders={
            "endpoint": "https://<resource>.openai.azure.com",
            # translate.DEFAULT_API_VERSION (a test keeps the two equal).
            "api_version": "2024-10-21",
            "scope": "https://cognitiveservices.azure.com/.default",
        },
    ),
]
