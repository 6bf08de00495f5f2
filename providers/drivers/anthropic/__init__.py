"""Anthropic Messages API driver (PROTOCOLS.md section 5).

Pure translation functions (canonical OpenAI Chat Completions dicts in, Anthropic
dicts out and back) and a thin ``AnthropicDriver`` I/O layer around them.

Policies this module applies (PROTOCOLS.md 2.1-2.4):

- ``system``/``developer`` messages become top-level ``system`` text blocks, in order.
- Empty and whitespace-only text blocks are dropped (Anthropic rejects them); a
  message left without blocks is dropped.
- Consecutive same-role turns are merged; in a user turn ``tool_result`` blocks are
  moved first (Anthropic requires them right after the ``tool_use`` turn).
- The first turn must be ``user``: when the conversation starts with an assistant
  turn (or has no turn at all) a minimal user turn ``"."`` is prepended.
- A final assistant turn (prefill) has its trailing whitespace removed.
- ``temperature`` above Anthropic's maximum of 1.0 is refused (400); when both
  ``temperature`` and ``top_p`` are given only ``temperature`` is sent (recent
  Claude models reject both).
- Tool-call ids are sanitised to ``[a-zA-Z0-9_-]`` (same function for
  ``tool_calls[].id`` and ``tool_call_id``, so pairs still match).
- History with ``tool_use``/``tool_result`` blocks but no ``tools``: a no-op
  placeholder tool is declared and ``tool_choice`` is ``none`` (Anthropic rejects
  tool blocks without tool definitions; the model cannot call the placeholder).
- ``response_format`` ``json_schema`` → ``output_config.format`` on models with
  structured outputs (``translate.has_structured_outputs``: Claude Opus 4.1 and
  every 4.5 model or later, by model id). Elsewhere, and for ``json_object``
  (no native switch; Anthropic's format needs a closed schema), the emulation
  of ``providers/drivers/structured.py``: a tool whose ``input_schema`` is the
  requested schema (``json_object``: a permissive object), forced with
  ``tool_choice`` ``tool``; its input is returned as the message content,
  ``finish_reason`` ``stop``. With the caller's own tools (``auto``), the
  synthetic tool is added beside them and ``tool_choice`` becomes ``any``: a
  call to a real tool stays a ``tool_calls`` entry. Forcing a tool is native
  (``any`` / ``tool``); note Anthropic refuses a forced tool with extended
  thinking, so a JSON mode with ``reasoning_effort`` answers that 400.
- Shape-changing parameters Anthropic cannot honour (``n>1``, ``logprobs``,
  ``top_logprobs``, audio output, legacy ``functions``, non-function tools) → 400.
  Sampling-only or OpenAI-only ones (``seed``, penalties, ``logit_bias``,
  ``reasoning_effort``, ``service_tier``, ``store``, ``metadata``…) are dropped.
- Streaming ``ping`` events yield nothing (the gateway owns keep-alives).

Package layout (declarations here; import from the modules):

- ``urls``: API root, endpoint URLs, request headers.
- ``messages``: canonical messages → ``system`` + ``messages`` (pure).
- ``translate``: the ``/v1/messages`` body: tools, parameters, format (pure).
- ``response``: ``Message`` answers and SSE events → canonical (pure).
- ``raw``: the pass-through request (``messages_raw``): the client's body as
  sent, only ``model``/``stream`` set, betas merged (pure).
- ``errors``: Anthropic errors → ``DriverError``.
- ``discovery``: ``/v1/models`` pages → ``ModelInfo`` (pure).
- ``driver``: ``AnthropicDriver``, the thin I/O layer.
"""

from __future__ import annotations

from providers.drivers.vendor import AuthMethod, VendorSpec

VENDORS = [
    VendorSpec(
        provider_type="anthropic",
        label="Anthropic",
        driver="providers.drivers.anthropic.driver.AnthropicDriver",
        default_endpoint="https://api.anthropic.com",
        default_auth=AuthMethod.X_API_KEY,
        help="Anthropic: an API key from console.anthropic.com, sent in the "
        "x-api-key header. Leave the endpoint empty for https://api.anthropic.com.",
    ),
]
