"""Canonical chat chunks as OpenAI's streamed ``text_completion`` chunks (pure).

Each chunk carries one choice: ``{"text", "index", "logprobs": null,
"finish_reason"}`` under the same ``id``, ``created`` and ``model``; a chunk
with neither text nor a finish (the role chunk, reasoning, tool deltas) is not
sent. With ``stream_options.include_usage`` every chunk carries
``"usage": null`` and the usage comes last, in a chunk whose ``choices`` is
empty; without it there is no usage chunk. ``[DONE]`` ends the stream.
"""

from __future__ import annotations

from typing import Any

import orjson

from gateway.completions.response import completion_id, finish_reason
from providers.drivers.canonical import now


def sse(payload: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(payload) + b"\n\n"


class ChunkStream:
    """One streamed completion's chunks, framed as the canonical chunks arrive."""

    def __init__(self, model: str, include_usage: bool) -> None:
        self.include_usage = include_usage
        self.envelope = {
            "id": completion_id(),
            "object": "text_completion",
            "created": now(),
            "model": model,
            "system_fingerprint": None,
        }

    def feed(self, chunk: dict[str, Any]) -> list[bytes]:
        """The completion chunks for one canonical chunk (the usage chunk included)."""
        choices = chunk.get("choices") or []
        if not choices:
            usage = chunk.get("usage")
            if usage and self.include_usage:
                return [sse({**self.envelope, "choices": [], "usage": usage})]
            return []
        out = []
        for choice in choices:
            if not isinstance(choice, dict):
                continue
            delta = choice.get("delta")
            content = delta.get("content") if isinstance(delta, dict) else None
            text = content if isinstance(content, str) else ""
            finish = finish_reason(choice.get("finish_reason"))
            if not text and finish is None:
                continue
            piece: dict[str, Any] = {
                **self.envelope,
                "choices": [
                    {
                        "text": text,
                        "index": int(choice.get("index") or 0),
                        "logprobs": None,
                        "finish_reason": finish,
                    }
                ],
            }
            if self.include_usage:
                piece["usage"] = None
            out.append(sse(piece))
        return out
