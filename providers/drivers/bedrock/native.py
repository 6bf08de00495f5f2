"""Bedrock's native Anthropic body for Claude models: the pass-through (pure).

``InvokeModel`` / ``InvokeModelWithResponseStream`` take Anthropic's Messages
body itself, minus ``model`` (it is in the URL) and ``stream`` (it is the
operation), plus ``anthropic_version: "bedrock-2023-05-31"``; betas travel as the
body's ``anthropic_beta`` list instead of a header. Every other field is kept as
the client sent it (Bedrock itself answers 400 for fields it does not take).
The stream is AWS event-stream ``chunk`` messages whose ``bytes`` member is one
Anthropic stream event, base64-encoded; exceptions come as their own messages.
Why this body rather than Converse for Claude: the notes of issue 12 (msgpass).
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from providers.drivers.anthropic.raw import split_betas
from providers.drivers.bedrock.errors import VENDOR
from providers.drivers.bedrock.response import decode_event
from providers.drivers.errors import invalid_request, malformed_stream
from providers.drivers.passthrough import RawEvent
from providers.drivers.stream import json_object

ANTHROPIC_VERSION = "bedrock-2023-05-31"


# ``anthropic.claude-…``, a cross-region profile ``us.anthropic.claude-…``
# (``eu.``, ``apac.``, ``global.``…), or an ARN ending in one of those.
_CLAUDE_RE = re.compile(r"(?:^|[/.])anthropic\.claude-")


def is_claude(model_id: str) -> bool:
    """Whether the Bedrock model id names an Anthropic Claude model."""
    return bool(_CLAUDE_RE.search(model_id))


def native_body(body: Mapping[str, Any], betas: Iterable[str] = ()) -> dict[str, Any]:
    """The InvokeModel body for a client's Messages ``body``."""
    if not isinstance(body, Mapping):
        raise invalid_request("The request body must be a JSON object.", None)
    sent: dict[str, Any] = {"anthropic_version": ANTHROPIC_VERSION}
    for key, value in body.items():
        if key not in ("model", "stream", "anthropic_version", "anthropic_beta"):
            sent[key] = value
    given = body.get("anthropic_beta")
    names = split_betas([*(given if isinstance(given, list) else []), *betas])
    if names:
        sent["anthropic_beta"] = names
    return sent


def count_model_id(model_id: str) -> str:
    """The id CountTokens takes: a cross-region profile's base model id
    (``us.anthropic.claude-…`` → ``anthropic.claude-…``; profiles are refused,
    and a profile tokenizes exactly as its model)."""
    _, dot, rest = model_id.partition(".")
    if dot and rest.startswith("anthropic.claude-") and "/" not in model_id:
        return rest
    return model_id


def count_body(body: Mapping[str, Any], betas: Iterable[str] = ()) -> dict[str, Any]:
    """CountTokens' body for a client's count_tokens ``body``: the InvokeModel
    body it would count, base64-encoded (Claude's body needs ``max_tokens``:
    a count has none, so it gets 1, which changes nothing counted)."""
    invoke = native_body(body, betas)
    invoke.setdefault("max_tokens", 1)
    encoded = base64.b64encode(json.dumps(invoke).encode()).decode()
    return {"input": {"invokeModel": {"body": encoded}}}


def input_tokens(data: Any) -> int:
    """``inputTokens`` of a CountTokens answer (ValueError if it has none)."""
    count = data.get("inputTokens") if isinstance(data, Mapping) else None
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise ValueError("no inputTokens")
    return count


def decode_chunk(headers: Mapping[str, Any], payload: bytes) -> RawEvent:
    """One event-stream message → the Anthropic event it carries.

    Exceptions are raised as mapped DriverErrors (``response.decode_event``); a
    message of another kind is a malformed stream.
    """
    kind = headers.get(":message-type", "event")
    if kind != "event":
        decode_event(headers, payload)  # raises the exception it carries
        raise malformed_stream(VENDOR, f"unknown {kind}"[:80])
    name = str(headers.get(":event-type") or "")
    if name != "chunk":
        raise malformed_stream(VENDOR, f"unknown event {name!r}"[:80])
    part = json_object(payload or b"{}", VENDOR)
    data = base64.b64decode(str(part.get("bytes") or ""), validate=True)
    text = data.decode("utf-8")
    event = json_object(text, VENDOR)
    return RawEvent(str(event.get("type") or "message"), event, text)
