"""OpenAI (PROTOCOLS.md section 3): what the vendor needs, declared.

Modules: ``translate`` (request, pure), ``response`` (answer and stream, pure),
``errors``, ``discovery`` (``GET /models``), ``driver`` (``OpenAIDriver``).
OpenAI-compatible presets live in ``presets.py``; rerank dialects (provider
config ``rerank_api``) in ``rerank.py``.
"""

from __future__ import annotations

from providers.drivers.vendor import AuthMethod, VendorSpec

VENDORS = [
    VendorSpec(
        provider_type="openai",
        label="OpenAI",
        driver="providers.drivers.openai.driver.OpenAIDriver",
        default_endpoint="https://api.openai.com/v1",
        default_auth=AuthMethod.BEARER,
        openai_family=True,
        settings=("wire_api",),
        help="OpenAI: an API key from platform.openai.com, sent as a Bearer "
        "token. Leave the endpoint empty for https://api.openai.com/v1.",
    ),
]
