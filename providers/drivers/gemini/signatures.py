"""Thought signatures carried inside canonical tool-call ids (PROTOCOLS.md 8.6).

``<id>__ts__<signature as base64url>``: the signature survives a round trip
through callers that only keep the id, and is re-attached to its
``functionCall`` part when the history comes back.
"""

from __future__ import annotations

from providers.drivers.canonical import synth_tool_id

SIGNATURE_SEP = "__ts__"


DUMMY_SIGNATURE = "skip_thought_signature_validator"


def encode_tool_id(call_id: str | None, signature: str | None) -> str:
    """A canonical tool-call id carrying Gemini's thought signature, if any."""
    base = call_id or synth_tool_id()
    if not signature:
        return base
    token = signature.replace("+", "-").replace("/", "_").rstrip("=")
    return f"{base}{SIGNATURE_SEP}{token}"


def decode_tool_id(tool_id: str) -> tuple[str, str | None]:
    """(original id, thought signature in standard base64 or None)."""
    base, sep, token = tool_id.partition(SIGNATURE_SEP)
    if not sep or not token:
        return tool_id, None
    sig = token.replace("-", "+").replace("_", "/")
    return base, sig + "=" * (-len(sig) % 4)
