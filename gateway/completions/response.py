"""Chat completions turned back into one legacy ``text_completion`` (pure).

Several prompts were several chat calls: their choices are numbered as OpenAI
numbers them (prompt ``i``'s choice ``j`` of ``n`` is ``i * n + j``) and their
usage is summed (``merge``). Only text travels back: a vendor's reasoning is
dropped, and a ``finish_reason`` this endpoint does not define (``tool_calls``,
``function_call``) is ``stop``.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from typing import Any

from providers.drivers.canonical import now

FINISH_REASONS = frozenset({"stop", "length", "content_filter"})


def completion_id() -> str:
    """An id shaped like OpenAI's (``cmpl-`` and random characters)."""
    return "cmpl-" + secrets.token_hex(12)


def finish_reason(value: Any) -> str | None:
    """A chat ``finish_reason`` as this endpoint's; None while unfinished."""
    if value is None:
        return None
    return str(value) if value in FINISH_REASONS else "stop"


def sum_usage(usages: Iterable[Any]) -> dict[str, Any] | None:
    """The canonical usages of several calls added up; None if none reported."""
    reported = [u for u in usages if isinstance(u, dict)]
    if len(reported) <= 1:
        return reported[0] if reported else None
    totals = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
    details: dict[str, int] = {}
    for usage in reported:
        for name in totals:
            totals[name] += int(usage.get(name) or 0)
        extra = usage.get("prompt_tokens_details")
        for name, value in extra.items() if isinstance(extra, dict) else ():
            if isinstance(value, int):
                details[name] = details.get(name, 0) + value
    out: dict[str, Any] = dict(totals)
    if details:
        out["prompt_tokens_details"] = details
    return out


def merge(answers: list[dict[str, Any]], n: int) -> dict[str, Any]:
    """The chat completions of the prompts, in order, as one (choices renumbered)."""
    if len(answers) == 1:
        return answers[0]
    merged = dict(answers[0])
    merged["choices"] = [
        {**choice, "index": i * n + int(choice.get("index") or 0)}
        for i, answer in enumerate(answers)
        for choice in answer.get("choices") or ()
        if isinstance(choice, dict)
    ]
    merged["usage"] = sum_usage(answer.get("usage") for answer in answers)
    return merged


def text_of(content: Any) -> str:
    """A chat message's content as text (text parts joined)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            part["text"]
            for part in content
            if isinstance(part, dict) and isinstance(part.get("text"), str)
        )
    return ""


def from_canonical(answer: dict[str, Any], model: str) -> dict[str, Any]:
    """A chat completion as OpenAI's ``text_completion`` object."""
    choices = []
    for choice in answer.get("choices") or ():
        message = choice.get("message") if isinstance(choice, dict) else None
        message = message if isinstance(message, dict) else {}
        choices.append(
            {
                "text": text_of(message.get("content")),
                "index": int(choice.get("index") or 0),
                "logprobs": None,
                "finish_reason": finish_reason(choice.get("finish_reason")) or "stop",
            }
        )
    out: dict[str, Any] = {
        "id": completion_id(),
        "object": "text_completion",
        "created": int(answer.get("created") or now()),
        "model": model,
        "choices": sorted(choices, key=lambda c: c["index"]),
        "system_fingerprint": None,
    }
    if isinstance(answer.get("usage"), dict):
        out["usage"] = answer["usage"]
    return out
