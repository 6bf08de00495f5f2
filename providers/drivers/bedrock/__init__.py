"""AWS Bedrock driver: Converse / ConverseStream for chat, InvokeModel for embeddings
and for Claude's native Anthropic body (``messages_raw``, the pass-through).

Wire format: PROTOCOLS.md section 6. Every runtime request is signed with SigV4
through botocore (service ``bedrock``, the provider's region) and sent with the
pooled httpx client, byte for byte as signed. The control plane (model listing,
health) is signed and sent the same way: boto3's HTTP is never used, so the
outbound address guard covers ``control_endpoint`` like every other URL.

Translation choices (documented policy, tested):

- ``system``/``developer`` messages, wherever they appear, become the top-level
  ``system`` blocks (Converse has no mid-conversation system turn).
- Same-role neighbours are merged (tool results are user turns); a conversation
  that starts with the assistant gets a minimal user turn ``"."`` in front.
- Blank text blocks are dropped; the final assistant text of a prefill is
  right-stripped (Claude rejects trailing whitespace there).
- Tool-call history without usable tools (no ``tools``, or ``tool_choice:
  "none"``, which Converse cannot express) is flattened to plain text, so the
  model cannot call anything and Bedrock does not demand a ``toolConfig``.
- ``response_format`` json modes (Converse has none) are emulated
  (``providers/drivers/structured.py``): a forced tool whose input schema is
  the requested schema (``json_object``: a permissive object), its input
  returned as the message content with ``finish_reason`` ``stop``; the caller's
  own tools stay callable beside it (``tool_choice`` becomes ``required`` over
  both; a call to a real tool stays a ``tool_calls`` entry).
- Forced ``tool_choice`` by model family (AWS ToolChoice reference,
  ``translate.forced_tool_choice``): Claude 3 and later and Nova take
  ``toolChoice`` ``any`` and ``tool``; Mistral Large ``any`` only (a named
  choice is sent as ``any`` over that tool alone); other families (Llama,
  Titan, Cohere, AI21…) get the chosen tools with ``auto`` and an instruction,
  and an answer without a call to one of them is a 502 naming Bedrock's
  failure to comply (streamed text is held back until the call shows).
- ``temperature`` above 1 (Bedrock's maximum) is refused; ``n > 1``,
  ``logprobs``, audio/file parts → 400;
  ``seed``, penalties, ``user``, ``parallel_tool_calls`` are dropped.
- Image URLs (http/https) are fetched through the guarded client
  (``Driver.fetch_images``: ``image_max_bytes``, ``image_fetch_timeout``) and
  inlined as bytes, the format sniffed from the magic bytes; data URLs are
  decoded directly.
- Tool ids are kept when they match ``[a-zA-Z0-9_.:-]{1,64}``, otherwise
  rewritten deterministically (same function for calls and results).

Package layout (declarations here; import from the modules):

- ``signing``: region, runtime URLs, SigV4 signing.
- ``translate``: canonical request → Converse body (pure).
- ``response``: Converse answer and ConverseStream events → canonical (pure).
- ``native``: Claude ids' native Anthropic body for ``messages_raw``
  (InvokeModel / InvokeModelWithResponseStream) and its stream chunks (pure).
- ``embeddings``: Titan / Cohere InvokeModel bodies and answers (pure).
- ``errors``: AWS errors → ``DriverError``.
- ``discovery``: control-plane URLs and requests (model listing) and their parsing.
- ``driver``: ``BedrockDriver``, the thin I/O layer.
"""

from __future__ import annotations

from providers.drivers.vendor import AuthMethod, VendorSpec

VENDORS = [
    VendorSpec(
        provider_type="bedrock",
        label="AWS Bedrock",
        driver="providers.drivers.bedrock.driver.BedrockDriver",
        default_endpoint="https://bedrock-runtime.{region}.amazonaws.com",
        default_auth=AuthMethod.AWS_SIGV4,
        required_config={
            "region": "Bedrock needs a region (provider config 'region')."
        },
        only_auth=(
            AuthMethod.AWS_SIGV4,
            "Bedrock providers authenticate with AWS SigV4.",
        ),
        help="AWS Bedrock: the AWS region (e.g. us-east-1) and an IAM access key "
        "allowed bedrock:InvokeModel, bedrock:InvokeModelWithResponseStream "
        "(streaming) and bedrock:ListFoundationModels; a session "
        "token only with temporary credentials. Leave the endpoint empty for the "
        "region's bedrock-runtime URL.",
        settings=("region",),
        placeholders={"region": "us-east-1"},
    ),
]
