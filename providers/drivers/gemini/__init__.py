"""Google Gemini Developer API driver (generateContent, PROTOCOLS.md section 8).

Pure translation functions (no I/O) plus ``GeminiDriver``, the thin I/O layer.

Choices worth knowing:

- Auth comes from ``Driver.auth()`` (catalog default: ``x-goog-api-key``); the key
  never goes into the URL.
- Tool schemas are sent as ``parameters`` (Gemini's OpenAPI subset): unknown keys
  are dropped by an allow-list, ``$ref`` is inlined from ``$defs``/``definitions``,
  ``type: [T, "null"]`` becomes ``nullable``, ``const`` becomes ``enum``, ``oneOf``
  becomes ``anyOf``. ``response_format`` schemas go unchanged to
  ``responseJsonSchema`` (full JSON Schema).
- Thought signatures (8.6) ride inside the tool-call id: ``<id>__ts__<signature as
  base64url>``. When the id comes back in the history the signature is re-attached
  to its ``functionCall`` part. For ``gemini-3*`` models a model turn whose calls
  have no signature (history from another vendor) gets Google's documented dummy
  ``skip_thought_signature_validator`` (config ``thought_signature_fallback``).
- ``https`` image URLs are fetched by the driver (``Driver.fetch_images``, through
  the guarded client; size cap ``image_max_bytes``, here default 10 MiB) and
  inlined; a failed fetch is 400 ``invalid_image_url``.
- Provider config keys: ``safety_settings`` (list, passed through),
  ``include_thoughts`` (bool), ``thought_signature_fallback`` (bool),
  ``image_max_bytes`` (int; the older ``max_image_bytes`` is still read),
  ``image_fetch_timeout`` (seconds), ``embed_batch_size`` (int, default 100),
  ``embedding_task_type`` (str).

Package layout (declarations here; import from the modules):

- ``urls``: API root, model paths, generateContent URLs.
- ``signatures``: thought signatures inside tool-call ids.
- ``schema``: JSON Schema → Gemini's OpenAPI subset (pure).
- ``translate``: canonical request → generateContent body (pure).
- ``response``: answers and stream events → canonical (pure).
- ``errors``: Gemini errors → ``DriverError``.
- ``embeddings``: batchEmbedContents bodies and answers (pure).
- ``discovery``: ``GET /models`` pages → ``ModelInfo`` (pure).
- ``driver``: ``GeminiDriver``, the thin I/O layer.
"""

from __future__ import annotations

from providers.drivers.vendor import AuthMethod, VendorSpec

DEFAULT_ENDPOINT = "https://generativelanguage.googleapis.com/v1beta"

VENDORS = [
    VendorSpec(
        provider_type="gemini",
        label="Google Gemini",
        driver="providers.drivers.gemini.driver.GeminiDriver",
        default_endpoint=DEFAULT_ENDPOINT,
        default_auth=AuthMethod.API_KEY,
        api_key_header=("x-goog-api-key", ""),
        help="Google Gemini: an API key from Google AI Studio, sent in the "
        "x-goog-api-key header. Leave the endpoint empty for the Gemini API.",
    ),
]
