"""AWS Bedrock driver: Converse / ConverseStream for chat, InvokeModel for embeddings.

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
- ``temperature`` above 1 (Bedrock's maximum) is refused; ``n > 1``,
  ``logprobs``, ``response_format`` json modes, audio/file parts → 400;
  ``seed``, penalties, ``user``, ``parallel_tool_calls`` are dropped.
- Image URLs (http/https) are fetched through the guarded client
  (``Driver.fetch_images``: ``image_max_bytes``, ``image_fetch_timeout``) and
  inlined as bytes, the format sniffed from the magic bytes; data URLs are
  decoded directly.
- Tool ids are kept when they match ``[a-zA-Z0-9_.:-]{1,64}``, otherwise
  rewritten deterministically (same function for calls and results).

Package layout (this module re-exports the public surface):

- ``signing``: region, runtime URLs, SigV4 signing.
- ``translate``: canonical request → Converse body (pure).
- ``response``: Converse answer and ConverseStream events → canonical (pure).
- ``embeddings``: Titan / Cohere InvokeModel bodies and answers (pure).
- ``errors``: AWS errors → ``DriverError``.
- ``control``: control-plane URLs and requests (model listing) and their parsing.
- ``driver``: ``BedrockDriver``, the thin I/O layer.
"""

from __future__ import annotations

from providers.drivers.bedrock.control import parse_models
from providers.drivers.bedrock.driver import BedrockDriver
from providers.drivers.bedrock.embeddings import embedding_inputs, embeddings_response
from providers.drivers.bedrock.errors import aws_error, parse_error
from providers.drivers.bedrock.response import (
    StreamTranslator,
    decode_event,
    map_stop_reason,
    map_usage,
    parse_converse_response,
)
from providers.drivers.bedrock.signing import model_url, sign_request
from providers.drivers.bedrock.translate import (
    build_converse_body,
    converse_request,
    tool_id,
)

__all__ = [
    "BedrockDriver",
    "StreamTranslator",
    "aws_error",
    "build_converse_body",
    "converse_request",
    "decode_event",
    "embedding_inputs",
    "embeddings_response",
    "map_stop_reason",
    "map_usage",
    "model_url",
    "parse_converse_response",
    "parse_error",
    "parse_models",
    "sign_request",
    "tool_id",
]
