"""The provider types' drivers: ``provider_type`` → driver class, imported lazily.

``REGISTRY`` maps each vendor's type to its driver class by dotted path;
OpenAI-compatible presets (``catalog.TYPES[...].openai_family``) share the
OpenAI driver. Public surface: ``driver_class(provider_type)``.
"""

from __future__ import annotations

from functools import cache
from importlib import import_module
from typing import TYPE_CHECKING

from providers.catalog import TYPES

if TYPE_CHECKING:
    from providers.drivers.base import Driver

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
    """The driver class serving ``provider_type``; LookupError when none does."""
    path = REGISTRY.get(provider_type)
    if path is None:
        spec = TYPES.get(provider_type)
        if spec is None or not spec.openai_family:
            raise LookupError(f"No driver for provider type {provider_type!r}.")
        path = REGISTRY["openai"]
    module, _, name = path.rpartition(".")
    return getattr(import_module(module), name)  # type: ignore[no-any-return]
