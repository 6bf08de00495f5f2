"""Ollama's native API (``/api/chat``, ``/api/embed``, ``/api/tags``, ``/api/show``).

PROTOCOLS.md section 7. Pure translation functions first (no I/O), then the thin
``OllamaDriver`` I/O layer.

Decisions (PROTOCOLS.md 2.4 applied to Ollama):

- ``stream`` is always sent explicitly: Ollama streams by default.
- ``tool_choice``: ``"auto"`` (or absent) sends the tools; ``"none"`` omits them;
  ``allowed_tools`` in ``auto`` mode sends only the allowed tools. Ollama has no
  forcing switch, so ``"required"``, a named function and ``allowed_tools`` in
  ``required`` mode are emulated (``providers/drivers/structured.py``): the
  chosen tools are sent with ``format`` set to a call-object schema (``anyOf``
  over ``{"name": const, "arguments": <parameters>}``) and an instruction, and
  the call is synthesized from the output (a real ``tool_calls`` answer to a
  chosen tool is taken as is); output that does not parse or names no offered
  tool is a 502 naming Ollama's failure to comply. An admin who prefers the old
  downgrade sets provider config ``"tool_choice_fallback": "auto"``: forced
  choices then become ``auto`` (named/allowed choices send only the chosen
  tools), and no emulation runs.
- ``response_format``: native: ``json_object`` → ``format: "json"``,
  ``json_schema`` → ``format: <schema>``.
- ``n > 1`` and ``logprobs: true`` answer 400 (shape-changing, not supported here).
- ``seed``, penalties, ``temperature``, ``top_p``, ``stop`` go to ``options``;
  ``user``, ``logit_bias``, ``parallel_tool_calls``, ``metadata``, ``store`` and
  other OpenAI-only knobs are dropped silently.
- ``reasoning_effort`` maps to ``think`` (none -> false, minimal -> "low",
  xhigh -> "max"); Ollama's ``message.thinking`` is returned as
  ``message.reasoning_content`` (and ``delta.reasoning_content`` when streaming).
- Images: data URLs are inlined as raw base64; ``http(s)`` URLs are fetched by the
  driver through the guarded client (``Driver.fetch_images``: size cap
  ``image_max_bytes``, default 20 MiB; time cap ``image_fetch_timeout`` seconds,
  default 10; at most 16 distinct URLs). A URL that cannot be
  fetched in time, answers non-2xx, is not an image, is too large or points to a
  blocked address answers 400 ``invalid_image_url`` naming the content part.
- A ``tool`` message gets ``tool_name`` from the earlier assistant ``tool_calls``
  entry with the same id; when no entry matches, ``tool_name`` is left out (Ollama
  accepts that) rather than failing the request.
- Provider config keys read: ``keep_alive``, ``options`` (default Modelfile
  options merged under the request's, e.g. ``{"num_ctx": 8192}``),
  ``embed_truncate``, ``discover_details`` (call ``/api/show`` per model during
  discovery, default true), ``tool_choice_fallback``, ``image_max_bytes``,
  ``image_fetch_timeout``.
- Health check: ``GET /api/tags`` (it proves the server serves models, passes any
  auth proxy in front of it, and answers with Ollama's own shape).

Package layout (declarations here; import from the modules):

- ``urls``: server root and ``/api/*`` URLs.
- ``translate``: canonical request → ``/api/chat`` body (pure).
- ``response``: answers and NDJSON stream lines → canonical (pure).
- ``errors``: Ollama errors → ``DriverError``.
- ``embeddings``: ``/api/embed`` body and answer (pure).
- ``discovery``: ``/api/tags`` and ``/api/show`` → ``ModelInfo`` (pure).
- ``driver``: ``OllamaDriver``, the thin I/O layer.
"""

from __future__ import annotations

from providers.drivers.vendor import AuthMethod, VendorSpec

VENDORS = [
    VendorSpec(
        provider_type="ollama",
        label="Ollama",
        driver="providers.drivers.ollama.driver.OllamaDriver",
        default_endpoint="http://localhost:11434",
        default_auth=AuthMethod.NONE,
        help="Ollama: the server's URL (http://localhost:11434 when it runs on this "
        "host; a private or local address needs PROVIDERS_ALLOW_PRIVATE_IPS=true). "
        "No key, unless a proxy in front of it asks for one.",
    ),
]
