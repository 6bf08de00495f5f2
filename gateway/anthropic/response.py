"""A canonical chat completion as an Anthropic Message (pure).

``from_canonical(completion, model)`` builds the ``message`` object: a text
block, then one ``tool_use`` block per tool call (its id kept, its arguments
parsed back to an object), the mapped ``stop_reason`` and Anthropic's usage
(``input_tokens`` excludes the cached tokens, as Anthropic counts them).
``stop_reason`` and ``usage`` are shared with the stream (``stream.py``).
"""

from __future__ import annotations

import json
import secrets
import string
from collections.abc import Mapping
from typing import Any

from providers.drivers.errors import DriverError

_ALNUM = string.ascii_letters + string.digits

STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}


def new_message_id() -> str:
    """A fresh ``msg_…`` id, shaped like Anthropic's."""
    return "msg_" + "".join(secrets.choice(_ALNUM) for _ in range(24))


def stop_reason(
    finish_reason: Any, has_tool_use: bool, stop_sequence: Any = None
) -> str:
    """Anthropic's ``stop_reason`` for a canonical ``finish_reason``.

    A vendor that reports ``stop`` beside tool calls (some do) answers
    ``tool_use``: that is what clients run their tools on; one that reports
    ``tool_calls`` without any answers ``end_turn``, since Anthropic's
    ``tool_use`` always comes with a block to run. ``stop_sequence`` is only
    known when the completion says which sequence matched.
    """
    if finish_reason in (None, "stop") and has_tool_use:
        return "tool_use"
    if finish_reason in ("tool_calls", "function_call") and not has_tool_use:
        return "end_turn"
    if finish_reason == "stop" and isinstance(stop_sequence, str):
        return "stop_sequence"
    return STOP_REASONS.get(finish_reason or "stop", "end_turn")


def usage(canonical: Mapping[str, Any] | None) -> dict[str, int]:
    """Anthropic's usage from canonical usage (prompt tokens include cached ones;
    reads and writes are in ``prompt_tokens_details``, PROTOCOLS.md 1.4)."""
    canonical = canonical or {}
    details = canonical.get("prompt_tokens_details") or {}
    cache_read = _count(details.get("cached_tokens"))
    cache_write = _count(details.get("cache_creation_tokens"))
    prompt = _count(canonical.get("prompt_tokens"))
    return {
        "input_tokens": max(prompt - cache_read - cache_write, 0),
        "output_tokens": _count(canonical.get("completion_tokens")),
        "cache_creation_input_tokens": cache_write,
        "cache_read_input_tokens": cache_read,
    }


def from_canonical(completion: dict[str, Any], model: str) -> dict[str, Any]:
    """The Anthropic Message for a canonical ``chat.completion``."""
    choices = completion.get("choices") or []
    first = choices[0] if choices else {}
    message = first.get("message") or {}
    content: list[dict[str, Any]] = []
    text = _text(message.get("content"))
    refusal = message.get("refusal")
    if not text and isinstance(refusal, str) and refusal:
        text = refusal
    if text:
        content.append({"type": "text", "text": text})
    for call in message.get("tool_calls") or []:
        content.append(tool_use_block(call))
    sequence = first.get("stop_sequence")
    return {
        "id": new_message_id(),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason(
            first.get("finish_reason"),
            any(block["type"] == "tool_use" for block in content),
            sequence,
        ),
        "stop_sequence": sequence if isinstance(sequence, str) else None,
        "usage": usage(completion.get("usage")),
    }


def tool_use_block(call: Mapping[str, Any]) -> dict[str, Any]:
    """A ``tool_use`` block for a canonical tool call: same id, parsed input."""
    function = call.get("function") or {}
    return {
        "type": "tool_use",
        "id": call.get("id") or "",
        "name": function.get("name") or "",
        "input": parse_input(function.get("arguments")),
    }


def parse_input(arguments: Any) -> dict[str, Any]:
    """A tool call's arguments as the object Anthropic's ``input`` must be.

    Blank is ``{}``; anything that is not a JSON object is the upstream's fault
    (a 502), never silently replaced by something else.
    """
    if isinstance(arguments, dict):
        return arguments
    if arguments is None or (isinstance(arguments, str) and not arguments.strip()):
        return {}
    value: Any = None
    if isinstance(arguments, str):
        try:
            value = json.loads(arguments)
        except ValueError:
            value = None
    if not isinstance(value, dict):
        raise DriverError(
            "The upstream model returned tool arguments that are not a JSON object.",
            status=502,
            code="upstream_invalid_response",
        )
    return value


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # an array of text parts
        return "".join(
            part.get("text") or ""
            for part in content
            if isinstance(part, dict) and part.get("type") == "text"
        )
    return ""


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
