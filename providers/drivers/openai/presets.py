"""OpenAI-compatible presets: provider types served by the OpenAI driver as is.

Each differs from OpenAI only in its label and default endpoint; a preset that
needs different behaviour subclasses ``OpenAIDriver`` and names it here.
"""

from __future__ import annotations

from providers.drivers.vendor import AuthMethod, VendorSpec

OPENAI_DRIVER = "providers.drivers.openai.driver.OpenAIDriver"


def preset(provider_type: str, label: str, endpoint: str) -> VendorSpec:
    return VendorSpec(
        provider_type=provider_type,
        label=label,
        driver=OPENAI_DRIVER,
        default_endpoint=endpoint,
        default_auth=AuthMethod.BEARER,
        openai_family=True,
        endpoint_required=not endpoint,
    )


VENDORS = [
    preset("openai_compatible", "OpenAI-compatible", ""),
    preset("openrouter", "OpenRouter", "https://openrouter.ai/api/v1"),
    preset("groq", "Groq", "https://api.groq.com/openai/v1"),
    preset("together", "Together AI", "https://api.together.xyz/v1"),
    preset("fireworks", "Fireworks AI", "https://api.fireworks.ai/inference/v1"),
    preset("deepseek", "DeepSeek", "https://api.deepseek.com/v1"),
    preset("mistral", "Mistral", "https://api.mistral.ai/v1"),
    preset("xai", "xAI", "https://api.x.ai/v1"),
    preset("vllm", "vLLM", "http://localhost:8000/v1"),
]
