"""Cohere: chat and embeddings through its OpenAI-compatible API, rerank through v2.

Chat and embeddings go to the Compatibility API
(``https://api.cohere.ai/compatibility/v1``) on the OpenAI driver as it is
(it has no legacy ``/completions``: those calls are translated through chat);
rerank goes to ``POST /v2/rerank`` at the API's root (``translate``,
``response``: billed search units recorded); discovery and the health check
read ``GET /v1/models``, whose ``endpoints`` say each model's type
(``discovery``); ``errors`` reads both APIs' error bodies. Bearer auth
everywhere. ``driver``: ``CohereDriver``.
"""

from __future__ import annotations

from providers.drivers.vendor import AuthMethod, VendorSpec

VENDORS = [
    VendorSpec(
        provider_type="cohere",
        label="Cohere",
        driver="providers.drivers.cohere.driver.CohereDriver",
        default_endpoint="https://api.cohere.ai/compatibility/v1",
        default_auth=AuthMethod.BEARER,
        openai_family=True,
        help="Cohere: an API key from dashboard.cohere.com, sent as a Bearer "
        "token. Leave the endpoint empty for Cohere's OpenAI-compatible API "
        "(https://api.cohere.ai/compatibility/v1); rerank calls go to its "
        "/v2/rerank and model discovery to its /v1/models.",
    ),
]
