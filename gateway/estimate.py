"""Token estimates for calls whose vendor reported no usage (e.g. a cut stream).

About four characters per token, the usual rule of thumb for English text with
the common BPE tokenizers; records built from these figures are marked
``usage_estimated`` so nobody mistakes them for the vendor's count.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

CHARS_PER_TOKEN = 4


def tokens(chars: int) -> int:
    return math.ceil(chars / CHARS_PER_TOKEN) if chars > 0 else 0


def _text_chars(content: Any) -> int:
    if isinstance(content, str):
        return len(content)
    if isinstance(content, list):
        return sum(
            len(part["text"])
            for part in content
            if isinstance(part, dict) and isinstance(part.get("text"), str)
        )
    return 0


def prompt_chars(body: dict[str, Any]) -> int:
    """Characters of the caller's messages (text parts and tool-call arguments)."""
    total = 0
    for message in body.get("messages") or ():
        if isinstance(message, dict):
            total += _text_chars(message.get("content"))
            total += _calls_chars(message.get("tool_calls"))
    return total


def _calls_chars(calls: Any) -> int:
    total = 0
    for call in calls if isinstance(calls, list) else ():
        function = call.get("function") if isinstance(call, dict) else None
        if isinstance(function, dict):
            for key in ("name", "arguments"):
                if isinstance(function.get(key), str):
                    total += len(function[key])
    return total


def delta_chars(choices: Iterable[Any]) -> int:
    """Characters a chunk delivers: content, reasoning and tool-call arguments."""
    total = 0
    for choice in choices:
        delta = choice.get("delta") if isinstance(choice, dict) else None
        if not isinstance(delta, dict):
            continue
        for key in ("content", "reasoning_content"):
            if isinstance(delta.get(key), str):
                total += len(delta[key])
        total += _calls_chars(delta.get("tool_calls"))
    return total


def answer_chars(answer: dict[str, Any]) -> int:
    """Characters of a whole ``chat.completion``'s messages."""
    total = 0
    for choice in answer.get("choices") or ():
        message = choice.get("message") if isinstance(choice, dict) else None
        if isinstance(message, dict):
            total += _text_chars(message.get("content"))
            if isinstance(message.get("reasoning_content"), str):
                total += len(message["reasoning_content"])
            total += _calls_chars(message.get("tool_calls"))
    return total


def usage_or_estimate(
    reported: dict[str, Any] | None,
    prompt: Callable[[], dict[str, Any]],
    output_chars: int,
) -> tuple[dict[str, Any] | None, bool]:
    """The vendor's usage when it reported output, else an estimate (and True).

    An estimate is made only when something was delivered or asked: a call
    that failed before sending anything keeps its zeros.
    """
    if reported and (reported.get("completion_tokens") or not output_chars):
        return reported, False
    if not output_chars and reported is None:
        return None, False
    estimated = {
        "prompt_tokens": int((reported or {}).get("prompt_tokens") or 0)
        or tokens(prompt_chars(prompt())),
        "completion_tokens": tokens(output_chars),
    }
    return estimated, True


# Fields of a request that say how much it may write; ``n`` asks for that many.
_MAX_OUTPUT_FIELDS = ("max_completion_tokens", "max_tokens", "max_output_tokens")


def request_tokens(body: Any) -> int:
    """Input tokens a request may bill, estimated high: what admission reserves.

    Every string of the body counts, keys aside (tool schemas, system prompts
    and images' text all bill as input): ASCII at four characters per token,
    any other character as a token of its own (CJK text bills about one token
    a character, not a quarter); a number as one token (a token id in an
    embeddings input); and each object ``PER_OBJECT`` tokens more (vendors
    frame every message with a few tokens of their own, which a short chat
    would otherwise under-count). One pass, no copy.
    """
    ascii_chars, other_chars, objects = _walk(body)
    return tokens(ascii_chars) + other_chars + PER_OBJECT * objects


PER_OBJECT = 4


def _walk(value: Any) -> tuple[int, int, int]:
    """(ASCII characters, other characters, objects) in ``value``."""
    if isinstance(value, str):
        if value.isascii():
            return len(value), 0, 0
        ascii_chars = len(value.encode("ascii", "ignore"))
        return ascii_chars, len(value) - ascii_chars, 0
    if isinstance(value, dict):
        total = [0, 0, 1]
        for item in value.values():
            a, o, n = _walk(item)
            total[0] += a
            total[1] += o
            total[2] += n
        return total[0], total[1], total[2]
    if isinstance(value, list):
        total = [0, 0, 0]
        for item in value:
            a, o, n = _walk(item)
            total[0] += a
            total[1] += o
            total[2] += n
        return total[0], total[1], total[2]
    if isinstance(value, int | float) and not isinstance(value, bool):
        return CHARS_PER_TOKEN, 0, 0
    return 0, 0, 0


def output_tokens(body: dict[str, Any], default: int) -> int:
    """Tokens a generation may write: its own cap times ``n``, else ``default``."""
    cap = next(
        (
            body[name]
            for name in _MAX_OUTPUT_FIELDS
            if isinstance(body.get(name), int) and not isinstance(body[name], bool)
        ),
        default,
    )
    n = body.get("n")
    copies = n if isinstance(n, int) and not isinstance(n, bool) and n > 1 else 1
    return max(0, int(cap)) * copies
