"""Anthropic's Messages API on the call path: translated through the canonical format.

A Messages request is turned into a canonical (Chat Completions) request
(``gateway.anthropic.request``), checked like any chat call, called through
``gateway.call`` (same routing, visibility, limits, failover and usage, under
the usage endpoint ``messages``), and the answer turned back into a Message
(``gateway.anthropic.response``) or, streamed, into Anthropic's events
(``AnthropicFramer`` around ``gateway.anthropic.stream.EventStream``).

``anthropic-beta`` names are checked first: the harmless ones (``HARMLESS_BETAS``)
and those that only unlock fields the translation checks (``FEATURE_BETAS``)
are accepted; any other is refused with a 400 naming it, because on this
translated path it would be dropped and dropping it could change the answer.
``count_tokens`` is answered with an estimate (``count_tokens``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import orjson

from gateway import call as call_path
from gateway.anthropic import errors as anthropic_errors
from gateway.anthropic import stream as anthropic_stream
from gateway.anthropic.request import to_canonical
from gateway.anthropic.response import from_canonical
from gateway.errors import DriverError, bad_request
from gateway.estimate import prompt_chars, tokens
from gateway.validation import validate_chat

# Betas whose only effect is one this path keeps or cannot be affected by:
# features now generally available (tools, caching, token counting), higher
# output or context limits (the target model's own limits apply either way),
# tool-streaming granularity, interleaved thinking (thinking itself is refused
# here), and the markers Claude Code sends (its identity, OAuth). Prompt
# caching's cache_control is dropped on this path: it changes the cost, never
# the answer.
HARMLESS_BETAS = frozenset(
    {
        "prompt-caching-2024-07-31",
        "extended-cache-ttl-2025-04-11",
        "token-counting-2024-11-01",
        "tools-2024-04-04",
        "tools-2024-05-16",
        "token-efficient-tools-2025-02-19",
        "fine-grained-tool-streaming-2025-05-14",
        "max-tokens-3-5-sonnet-2024-07-15",
        "output-128k-2025-02-19",
        "context-1m-2025-08-07",
        "interleaved-thinking-2025-05-14",
        "claude-code-20250219",
        "oauth-2025-04-20",
    }
)
# Betas that only unlock request fields, block or tool types: the header alone
# changes nothing, and the translation (``gateway.anthropic.request``) refuses
# by name, or translates, every field they unlock when a request uses it.
FEATURE_BETAS = frozenset(
    {
        "pdfs-2024-09-25",
        "computer-use-2024-10-22",
        "computer-use-2025-01-24",
        "files-api-2025-04-14",
        "mcp-client-2025-04-04",
        "code-execution-2025-05-22",
        "code-execution-2025-08-25",
        "search-results-2025-06-09",
        "context-management-2025-06-27",
        "web-fetch-2025-09-10",
        "skills-2025-10-02",
        "structured-outputs-2025-11-13",
        "effort-2025-11-24",
    }
)
ACCEPTED_BETAS = HARMLESS_BETAS | FEATURE_BETAS
# Seconds of upstream silence after which a ``ping`` event keeps the stream alive.
PING_INTERVAL = 10.0
# Anthropic bills an image by its area, at most about 1,600 tokens (1.15 MP).
IMAGE_TOKENS = 1600


def check_betas(header: str | None) -> None:
    """Refuse (400) any ``anthropic-beta`` this translated path cannot honour."""
    for name in (header or "").split(","):
        beta = name.strip()
        if beta and beta not in ACCEPTED_BETAS:
            raise bad_request(
                f"anthropic-beta: '{beta[:100]}' is not supported for this model: "
                "the gateway translates the request for its provider and would "
                "have to drop what the beta changes. Remove the beta.",
                "anthropic-beta",
                "unsupported_beta",
            )


def canonical_request(body: dict[str, Any]) -> dict[str, Any]:
    """The Messages body as a validated canonical chat request (400 if bad)."""
    canonical = to_canonical(body)
    validate_chat(canonical)
    return canonical


async def message(call: call_path.Call) -> dict[str, Any]:
    """A whole Message for a canonical chat call."""
    return from_canonical(await call_path.chat(call), call.name)


async def message_stream(call: call_path.Call) -> AsyncIterator[bytes]:
    """Anthropic's events for a streamed canonical chat call."""
    return await call_path.chat_stream(call, AnthropicFramer(call.name))


class AnthropicFramer:
    """Frames canonical chunks as Anthropic's Messages events (``gateway.relay``)."""

    ping_interval: float | None = PING_INTERVAL

    def __init__(self, model: str) -> None:
        self.events = anthropic_stream.EventStream(model)

    def feed(self, chunk: dict[str, Any]) -> list[bytes]:
        return self.events.feed(chunk)

    def done(self) -> list[bytes]:
        return self.events.finish()

    def error(self, err: DriverError) -> bytes:
        return self.events.error(*anthropic_errors.event_error(err))

    def ping(self) -> bytes:
        return anthropic_stream.ping()


async def count_tokens(call: call_path.Call) -> dict[str, Any]:
    """``{"input_tokens": n}``: an estimate for the model the caller may use.

    The model is resolved as for a call (a name the key cannot see is a 404,
    exactly like a missing one); nothing is sent upstream. The count is the
    gateway's usual estimate (``gateway.estimate``: four characters a token)
    over the messages, the system prompt and the tool definitions, plus
    ``IMAGE_TOKENS`` for each image.
    """
    await call.resolve("inference")
    canonical = call.body
    chars = prompt_chars(canonical)
    if canonical.get("tools"):
        chars += len(orjson.dumps(canonical["tools"]))
    images = sum(
        1
        for message in canonical.get("messages") or ()
        if isinstance(message.get("content"), list)
        for part in message["content"]
        if isinstance(part, dict) and part.get("type") == "image_url"
    )
    return {"input_tokens": max(1, tokens(chars) + images * IMAGE_TOKENS)}


def model_entry(entry: dict[str, Any]) -> dict[str, Any]:
    """A /v1/models entry in Anthropic's ``ModelInfo`` shape."""
    created = datetime.fromtimestamp(int(entry.get("created") or 0), tz=UTC)
    return {
        "type": "model",
        "id": entry["id"],
        "display_name": entry["id"],
        "created_at": created.isoformat().replace("+00:00", "Z"),
    }


def model_page(entries: list[dict[str, Any]], query: Any) -> dict[str, Any]:
    """Anthropic's paginated model list (``limit``, ``after_id``, ``before_id``)."""
    try:
        limit = int(query.get("limit") or 20)
    except ValueError:
        raise bad_request("limit: Input should be a valid integer", "limit") from None
    if not 1 <= limit <= 1000:
        raise bad_request("limit: Input should be between 1 and 1000", "limit")
    ids = [e["id"] for e in entries]
    start, stop = 0, len(entries)
    after, before = query.get("after_id"), query.get("before_id")
    if after:
        start = ids.index(after) + 1 if after in ids else len(ids)
        stop = min(stop, start + limit)
    elif before:
        stop = ids.index(before) if before in ids else 0
        start = max(0, stop - limit)
    else:
        stop = min(stop, limit)
    page = [model_entry(e) for e in entries[start:stop]]
    has_more = stop < len(entries) if not before else start > 0
    return {
        "data": page,
        "has_more": has_more,
        "first_id": page[0]["id"] if page else None,
        "last_id": page[-1]["id"] if page else None,
    }


def count_body(body: dict[str, Any]) -> dict[str, Any]:
    """A count_tokens body as a Messages body (it has no ``max_tokens``)."""
    if "max_tokens" in body:
        raise bad_request("max_tokens: Extra inputs are not permitted", "max_tokens")
    return {**body, "max_tokens": 1}
