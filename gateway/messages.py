"""Anthropic's Messages API on the call path: as sent, or translated.

``MessagesRequest`` holds the body as the client sent it. Per candidate of the
model name (``routes``): a vendor that speaks Messages natively (Anthropic,
Bedrock's Claude) gets the body as sent (``gateway.native``); any other gets it
translated into a canonical (Chat Completions) request
(``gateway.anthropic.request``), checked like any chat call, and its answer
turned back into a Message (``gateway.anthropic.response``) or, streamed, into
Anthropic's events (``AnthropicFramer`` around
``gateway.anthropic.stream.EventStream``). Either way the call runs through
``gateway.call`` (same visibility, limits, failover and usage, under the usage
endpoint ``messages``).

``anthropic-beta`` names travel to a native vendor, which judges them. On the
translated path the harmless ones (``HARMLESS_BETAS``) and those that only
unlock fields the translation checks (``FEATURE_BETAS``) are accepted; any
other is refused with a 400 naming it, because the translation would drop it
and dropping it could change the answer. ``count_tokens`` is the native
vendor's own count, else an estimate (``estimated``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import orjson

from gateway import call as call_path
from gateway import native
from gateway.anthropic import errors as anthropic_errors
from gateway.anthropic import stream as anthropic_stream
from gateway.anthropic.request import check_envelope, to_canonical
from gateway.anthropic.response import from_canonical
from gateway.errors import DriverError, bad_request
from gateway.estimate import prompt_chars, tokens
from gateway.fields import check_depth, check_model
from gateway.relay import CanonicalFramer, Framer
from gateway.routing import Candidate
from gateway.validation import validate_chat
from providers.drivers.anthropic.raw import split_betas
from providers.drivers.passthrough import RawMessage, RawUsage

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


class MessagesRequest:
    """A Messages (or count_tokens) body as the client sent it, its betas, and
    its canonical translation, made once and only when a candidate needs it.

    What every body needs whoever serves it (``check_envelope``: a model name,
    ``max_tokens``, a ``messages`` list, a boolean ``stream``; the gateway's
    depth limit) is checked at once; the rest is the translation's to refuse
    (``canonical``), or the vendor's own when it takes the body as sent. A
    count_tokens body has no ``max_tokens``: it is translated with 1, which
    changes nothing counted.
    """

    def __init__(
        self, body: dict[str, Any], beta_header: str | None, *, counting: bool = False
    ) -> None:
        if counting and isinstance(body, dict) and "max_tokens" in body:
            raise bad_request(
                "max_tokens: Extra inputs are not permitted", "max_tokens"
            )
        check_envelope(body, counting=counting)
        check_model(body["model"])
        check_depth(body)
        self.body = body
        self.betas = tuple(split_betas([beta_header or ""]))
        self.counting = counting
        self.stream = not counting and bool(body.get("stream"))
        self._canonical: dict[str, Any] | None = None
        self._refusal: DriverError | None = None

    def canonical(self) -> dict[str, Any]:
        """The canonical chat request; the 400 refusing it, every time it is asked."""
        if self._refusal is not None:
            raise self._refusal
        if self._canonical is None:
            body = {**self.body, "max_tokens": 1} if self.counting else self.body
            try:
                check_betas(",".join(self.betas))
                self._canonical = canonical_request(body)
            except DriverError as err:
                self._refusal = err
                raise
        return self._canonical


async def routes(
    call: call_path.Call, request: MessagesRequest
) -> tuple[list[Candidate], set[int]]:
    """The candidates that can serve ``request``, and which of them take it as sent.

    A candidate whose vendor takes Anthropic's body as sent (``native.accepts``)
    always can. The others need the translation: when it refuses the request
    (thinking, an unknown beta...), they are left out, and with no candidate
    left the refusal is the answer.
    """
    return await call_path.split_routes(call, native.accepts, request.canonical)


async def message(call: call_path.Call, request: MessagesRequest) -> dict[str, Any]:
    """A whole Message: the vendor's own, or translated from the canonical answer."""
    candidates, natives = await routes(call, request)
    call.count_as(request.canonical)

    async def attempt(candidate: Candidate) -> RawMessage | dict[str, Any]:
        if id(candidate) in natives:
            return await native.send(candidate, request.body, request.betas)
        return await call_path.send_chat(candidate, request.canonical())

    candidate, answer = await call.first_success(candidates, attempt)
    if isinstance(answer, RawMessage):
        return native.answered(call, candidate, answer)
    return from_canonical(call_path.answered(call, candidate, answer), call.name)


async def message_stream(
    call: call_path.Call, request: MessagesRequest
) -> AsyncIterator[bytes]:
    """Anthropic's events: the vendor's own, or made from the canonical chunks."""
    candidates, natives = await routes(call, request)
    call.count_as(request.canonical)

    async def attempt(
        candidate: Candidate,
    ) -> tuple[call_path.OpenStream, RawUsage | None]:
        if id(candidate) in natives:
            return await native.open_stream(candidate, request.body, request.betas)
        opened = await call_path.open_chat_stream(candidate, request.canonical())
        return opened, None

    candidate, (opened, usage) = await call.first_success(candidates, attempt)
    framer: Framer = (
        AnthropicFramer(call.name)
        if usage is None
        else native.NativeFramer(call.name, usage)
    )
    return call_path.relayed(call, candidate, opened, framer)


class AnthropicFramer(CanonicalFramer):
    """Frames canonical chunks as Anthropic's Messages events (``gateway.relay``)."""

    ping_interval: float | None = anthropic_stream.PING_INTERVAL

    def __init__(self, model: str) -> None:
        super().__init__()
        self.events = anthropic_stream.EventStream(model)

    def feed(self, chunk: dict[str, Any]) -> list[bytes]:
        self.account(chunk)
        return self.events.feed(chunk)

    def done(self) -> list[bytes]:
        return self.events.finish()

    def error(self, err: DriverError) -> bytes:
        return self.events.error(*anthropic_errors.event_error(err))

    def ping(self) -> bytes:
        return anthropic_stream.ping()


async def count_tokens(
    call: call_path.Call, request: MessagesRequest
) -> dict[str, Any]:
    """``{"input_tokens": n}`` for the model the caller may use.

    The model is resolved as for a call (a name the key cannot see is a 404,
    exactly like a missing one). Where a candidate's vendor counts Anthropic's
    body itself (Anthropic; Bedrock's Claude models), it counts, under the
    same limits and failover as a call; otherwise, or where that vendor cannot
    count for the model, the answer is the gateway's estimate (``estimated``).
    """
    candidates = await call.resolve("inference")
    natives = [c for c in candidates if native.accepts(c)]
    if natives:

        async def attempt(candidate: Candidate) -> int | None:
            driver = call_path.driver_for(candidate)
            async with asyncio.timeout(call_path.total_timeout(candidate)):
                return await driver.count_tokens_raw(
                    request.body, candidate.model_id, request.betas
                )

        _, counted = await call.first_success(natives, attempt)
        if counted is not None:
            return {"input_tokens": counted}
    return {"input_tokens": estimated(request.canonical())}


def estimated(canonical: dict[str, Any]) -> int:
    """The gateway's usual estimate (``gateway.estimate``: four characters a
    token) over the messages, the system prompt and the tool definitions,
    plus ``IMAGE_TOKENS`` for each image."""
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
    return max(1, tokens(chars) + images * IMAGE_TOKENS)


def model_entry(entry: dict[str, Any]) -> dict[str, Any]:
    """A /v1/models entry in Anthropic's ``ModelInfo`` shape (plus ``model_type``)."""
    created = datetime.fromtimestamp(int(entry.get("created") or 0), tz=UTC)
    return {
        "type": "model",
        "id": entry["id"],
        "display_name": entry["id"],
        "created_at": created.isoformat().replace("+00:00", "Z"),
        "model_type": entry["model_type"],
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
