"""Driver registry: ``provider_type`` → driver class (one module per vendor).

Public surface: ``get_driver(config, client)`` returns the driver instance for a
``DriverConfig``; ``driver_class(provider_type)`` the class. Adding a vendor is
adding a module and one line in ``REGISTRY``; OpenAI-compatible presets share
the OpenAI driver.
"""

from __future__ import annotations

from functools import cache
from importlib import import_module
from typing import TYPE_CHECKING

from providers.catalog import TYPES

if TYPE_CHECKING:
    import httpx

    from providers.drivers.base import Driver, DriverConfig

REGISTRY: dict[str, str] = {
    "openai": "providers.drivers.openai.OpenAIDriver",
    "azure_openai": "providers.drivers.azure.AzureOpenAIDriver",
    "anthropic": "providers.drivers.anthropic.AnthropicDriver",
    "bedrock": "providers.drivers.bedrock.BedrockDriver",
    "ollama": "providers.drivers.ollama.OllamaDriver",
    "gemini": "providers.drivers.gemini.GeminiDriver",
}


@cache
def driver_class(provider_type: str) -> type[Driver]:
    path = REGISTRY.get(provider_type)
    if path is None:
        spec = TYPES.get(provider_type)
        if spec is None or not spec.openai_family:
            raise LookupError(f"No driver for provider type {provider_type!r}.")
        path = REGISTRY["openai"]
    module, _, name = path.rpartition(".")
    return getattr(import_module(module), name)  # type: ignore[no-any-return]


def get_driver(config: DriverConfig, client: httpx.AsyncClient) -> Driver:
    return driver_class(config.provider_type)(config, client)
