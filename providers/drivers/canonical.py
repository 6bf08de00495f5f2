"""Canonical response and chunk builders every vendor's translation uses.

The gateway's canonical shapes (OpenAI Chat Completions and Embeddings): the
completion id and timestamp, completions, choices, stream chunks (role, content,
tool-call deltas, usage), tool-call ids and arguments, and the embeddings list.
Only logic that is the same for every vendor lives here; vendor quirks stay in
the vendor's package. Pure: dict in, dict out, no I/O.
"""

from __future__ import annotations

import base64
import json
import secrets
import string
import struct
import time
from collections.abc import Iterable, Sequence
from typing import Any

from providers.drivers.errors import invalid_request

_ALNUM = string.ascii_letters + string.digits


def new_completion_id() -> str:
    """A fresh ``chatcmpl-…`` id (the gateway rewrites ids it relays)."""
    return "chatcmpl-" + secrets.token_hex(12)


def now() -> int:
    """The ``created`` timestamp: whole seconds since the epoch."""
    return int(time.time())


# -- tool calls ------------------------------------------------------------------


def synth_tool_id() -> str:
    """A fresh OpenAI-style tool-call id for a vendor call that came without one."""
    return "call_" + "".join(secrets.choice(_ALNUM) for _ in range(24))


def parse_tool_arguments(raw: Any, param: str) -> dict[str, Any]:
    """A history tool call's ``function.arguments`` as the JSON object vendors want.

    Absent or blank arguments are ``{}``; an object passes through; anything else
    must be a string holding a JSON object, or the call is a 400 naming ``param``
    (``messages[i].tool_calls[j].function.arguments``).
    """
    if isinstance(raw, dict):
        return raw
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return {}
    if not isinstance(raw, str):
        raise invalid_request("Tool call arguments must be a JSON object.", param)
    try:
        value = json.loads(raw)
    except ValueError:
        raise invalid_request(
            "Tool call arguments are not valid JSON.", param
        ) from None
    if not isinstance(value, dict):
        raise invalid_request("Tool call arguments must be a JSON object.", param)
    return value


def tool_call(call_id: str, name: str, arguments: Any) -> dict[str, Any]:
    """A canonical ``tool_calls`` entry; object ``arguments`` are JSON-encoded."""
    if not isinstance(arguments, str):
        arguments = json.dumps(
            arguments if arguments is not None else {}, ensure_ascii=False
        )
    return {
        "id": call_id,
        "type": "function",
        "function": {"name": name, "arguments": arguments},
    }


# -- conversation turns ----------------------------------------------------------


def append_turn(
    turns: list[dict[str, Any]],
    role: str,
    blocks: list[dict[str, Any]],
    key: str = "content",
) -> None:
    """Add a turn's blocks, merged into the previous turn when the role repeats.

    Vendors that demand alternating roles get one turn per run of same-role
    messages (tool results count as user turns); an empty turn is skipped.
    """
    if not blocks:
        return
    if turns and turns[-1]["role"] == role:
        turns[-1][key].extend(blocks)
    else:
        turns.append({"role": role, key: blocks})


# -- completions and stream chunks ------------------------------------------------


def assistant_message(
    text: str, tool_calls: list[dict[str, Any]], reasoning: str = ""
) -> dict[str, Any]:
    """The canonical assistant message: ``content`` is null only beside tool calls."""
    message: dict[str, Any] = {
        "role": "assistant",
        "content": text if text or not tool_calls else None,
    }
    if tool_calls:
        message["tool_calls"] = tool_calls
    if reasoning:
        message["reasoning_content"] = reasoning
    return message


def choice(
    message: dict[str, Any], finish_reason: str, index: int = 0
) -> dict[str, Any]:
    return {
        "index": index,
        "message": message,
        "finish_reason": finish_reason,
        "logprobs": None,
    }


def chat_completion(
    choices: list[dict[str, Any]],
    usage: dict[str, Any],
    model: str,
    response_id: Any = None,
    created: int | None = None,
) -> dict[str, Any]:
    """A ``chat.completion``; the vendor's response id is kept when it has one."""
    return {
        "id": f"chatcmpl-{response_id}" if response_id else new_completion_id(),
        "object": "chat.completion",
        "created": now() if created is None else created,
        "model": model,
        "choices": choices,
        "usage": usage,
    }


def chunk(
    delta: dict[str, Any],
    finish_reason: str | None = None,
    index: int = 0,
    **extra: Any,
) -> dict[str, Any]:
    """One ``chat.completion.chunk`` body for one choice (``extra``: logprobs…)."""
    return {
        "choices": [
            {"index": index, "delta": delta, **extra, "finish_reason": finish_reason}
        ]
    }


def role_chunk(index: int = 0) -> dict[str, Any]:
    """The first chunk of a choice (PROTOCOLS.md 1.6)."""
    return chunk({"role": "assistant", "content": ""}, index=index)


def usage_chunk(usage: dict[str, Any]) -> dict[str, Any]:
    """The trailing usage chunk (``choices: []``)."""
    return {"choices": [], "usage": usage}


def tool_call_start(k: int, call_id: str, name: str) -> dict[str, Any]:
    """The delta entry that opens tool call ``k`` (id, type and name sent once)."""
    return {
        "index": k,
        "id": call_id,
        "type": "function",
        "function": {"name": name, "arguments": ""},
    }


def tool_call_arguments(k: int, arguments: str) -> dict[str, Any]:
    """A delta entry carrying a fragment of tool call ``k``'s arguments."""
    return {"index": k, "function": {"arguments": arguments}}


# -- embeddings ------------------------------------------------------------------


def floats_to_base64(values: Iterable[float]) -> str:
    """OpenAI's ``encoding_format: base64``: little-endian float32, base64."""
    values = list(values)
    return base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode()


def embeddings_list(
    vectors: Sequence[Sequence[float]],
    model: str,
    prompt_tokens: int = 0,
    encoding_format: str | None = None,
) -> dict[str, Any]:
    """The OpenAI embeddings ``list`` body for vectors in input order."""
    data = []
    for index, vector in enumerate(vectors):
        embedding: Any = list(vector)
        if encoding_format == "base64":
            embedding = floats_to_base64(embedding)
        data.append({"object": "embedding", "index": index, "embedding": embedding})
    return {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
    }
