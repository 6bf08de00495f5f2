"""OpenAI-compatible presets: provider types served by the OpenAI driver as is.

Each differs from OpenAI only in its label and default endpoint; a preset that
needs different behaviour subclasses ``OpenAIDriver`` and names it here.
"""

from __future__ import annotations

from providers.drivers.vendor import AuthMethod, VendorSpec

OPENAI_DRIVER = "providers.drivers.openai.driver.OpenAIDriver"


def preset(
    provider_type: str,
    label: str,
    endpoint: str,
    help: str = "",
    *,
    key_optional: bool = False,
) -> VendorSpec:
    """``key_optional``: the server may run without a key, so the form
    preselects no auth (a blank stored auth method still means Bearer)."""
    if not help:
        help = (
            f"{label}: an API key from {label}, sent as a Bearer token. "
            f"Leave the endpoint empty for {endpoint}."
        )
    return VendorSpec(
        provider_type=provider_type,
        label=label,
        driver=OPENAI_DRIVER,
        default_endpoint=endpoint,
        default_auth=AuthMethod.BEARER,
        form_auth=AuthMethod.NONE if key_optional else "",
        openai_family=True,
        settings=("wire_api", "rerank_api"),
        rerank_api="jina",
        endpoint_required=not endpoint,
        help=help,
        placeholders={} if endpoint else {"endpoint": "https://llm.example.com/v1"},
    )


VENDORS = [
    preset(
        "openai_compatible",
        "OpenAI-compatible",
        "",
        "Any server that speaks OpenAI's API: its base URL (with /v1 when the "
        "server has it) and its key, if it asks for one (then choose the Bearer "
        "token auth method).",
        key_optional=True,
    ),
    preset("openrouter", "OpenRouter", "https://openrouter.ai/api/v1"),
    preset("groq", "Groq", "https://api.groq.com/openai/v1"),
    preset("together", "Together AI", "https://api.together.xyz/v1"),
    preset("fireworks", "Fireworks AI", "https://api.fireworks.ai/inference/v1"),
    preset("deepseek", "DeepSeek", "https://api.deepseek.com/v1"),
    preset("mistral", "Mistral", "https://api.mistral.ai/v1"),
    preset("xai", "xAI", "https://api.x.ai/v1"),
    preset(
        "vllm",
        "vLLM",
        "http://localhost:8000/v1",
        "vLLM: the server's URL with /v1 (http://localhost:8000/v1 on this host; a "
        "private or local address needs PROVIDERS_ALLOW_PRIVATE_IPS=true), and the "
        "--api-key it was started with, if any (then choose the Bearer token auth "
        "method).",
        key_optional=True,
    ),
]
