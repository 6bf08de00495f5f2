"""The Anthropic features only the pass-through sends, checked and answered as
the real API does (shared by the Anthropic fake and Bedrock's native body):

- extended thinking: ``thinking`` ``{"type": "enabled", "budget_tokens": n}``
  (n ≥ 1024 and below ``max_tokens``; no ``temperature`` other than 1, no
  ``top_k``, no forced ``tool_choice``); ``thinking`` blocks sent back must carry
  the signature this fake issued for their text, and while thinking is on the
  last assistant turn with ``tool_use`` must open with a thinking block;
- prompt caching: ``cache_control`` ``{"type": "ephemeral", "ttl"?: "5m"|"1h"}``
  on at most 4 blocks; a prefix seen for the first time is written
  (``cache_creation_input_tokens``), seen again it is read
  (``cache_read_input_tokens``), ``CACHE_TOKENS`` either way;
- ``document`` blocks (base64 PDF, plain text, URL, content), ``service_tier``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable
from typing import Any

SIGNING_KEY = b"fake-anthropic-thinking-signer"
CACHE_TOKENS = 20
MAX_CACHE_BREAKPOINTS = 4


Emit = Callable[[dict[str, Any]], Awaitable[None]]


class Invalid(Exception):
    """A request the real API answers with 400 invalid_request_error."""


def signature(thinking: str) -> str:
    """The signature this fake issues for a thinking text."""
    digest = hmac.new(SIGNING_KEY, thinking.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def thinking_enabled(body: dict[str, Any]) -> bool:
    """Validate ``thinking`` and what it forbids; whether it is on."""
    thinking = body.get("thinking")
    if thinking is None:
        return False
    kind = thinking.get("type") if isinstance(thinking, dict) else None
    if kind not in ("enabled", "disabled"):
        raise Invalid(
            "thinking: Input tag found using 'type' does not match any of the "
            "expected tags: 'enabled', 'disabled'"
        )
    allowed = {"type", "budget_tokens"} if kind == "enabled" else {"type"}
    for key in thinking:
        if key not in allowed:
            raise Invalid(f"thinking.{kind}.{key}: Extra inputs are not permitted")
    if kind == "disabled":
        return False
    budget = thinking.get("budget_tokens")
    if isinstance(budget, bool) or not isinstance(budget, int):
        raise Invalid("thinking.enabled.budget_tokens: Field required")
    if budget < 1024:
        raise Invalid(
            "thinking.enabled.budget_tokens: Input should be greater than or equal "
            "to 1024"
        )
    if budget >= body["max_tokens"]:
        raise Invalid("`max_tokens` must be greater than `thinking.budget_tokens`.")
    if body.get("temperature") not in (None, 1):
        raise Invalid(
            "`temperature` may only be set to 1 when thinking is enabled or in "
            "interleaved thinking mode."
        )
    if body.get("top_k") is not None:
        raise Invalid("`top_k` must be unset when thinking is enabled.")
    if (body.get("tool_choice") or {}).get("type") in ("any", "tool"):
        raise Invalid("Thinking may not be enabled when tool_choice forces tool use.")
    return True


def check_thinking_blocks(turns: list[dict[str, Any]], enabled: bool) -> None:
    """Signatures intact; with thinking on, the tool turn opens with thinking."""
    last_tool_turn = None
    for i, turn in enumerate(turns):
        for j, block in enumerate(turn["content"]):
            kind = block.get("type")
            thought = kind in ("thinking", "redacted_thinking")
            if thought and turn["role"] != "assistant":
                raise Invalid(
                    f"messages.{i}.content.{j}: {kind} blocks are only allowed in "
                    "assistant turns"
                )
            if kind == "thinking":
                text, sig = block.get("thinking"), block.get("signature")
                if not isinstance(text, str) or not isinstance(sig, str):
                    raise Invalid(f"messages.{i}.content.{j}.thinking: Field required")
                if not hmac.compare_digest(sig, signature(text)):
                    raise Invalid(
                        f"messages.{i}.content.{j}: Invalid `signature` in `thinking` "
                        "block"
                    )
            if kind == "tool_use":
                last_tool_turn = i
    if not enabled or last_tool_turn is None:
        return
    first = turns[last_tool_turn]["content"][0].get("type")
    if first not in ("thinking", "redacted_thinking"):
        raise Invalid(
            f"messages.{last_tool_turn}.content.0.type: Expected `thinking` or "
            f"`redacted_thinking`, but found `{first}`. When `thinking` is enabled, "
            "a final `assistant` message must start with a thinking block."
        )


def _cache_controls(value: Any, where: str) -> list[tuple[str, Any]]:
    found: list[tuple[str, Any]] = []
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "cache_control":
                found.append((f"{where}{key}", inner))
            else:
                found.extend(_cache_controls(inner, f"{where}{key}."))
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            found.extend(_cache_controls(inner, f"{where}{i}."))
    return found


def check_cache_control(body: dict[str, Any]) -> bool:
    """Validate every ``cache_control``; whether there is any."""
    parts = {k: body[k] for k in ("system", "tools", "messages") if k in body}
    found = _cache_controls(parts, "")
    if "cache_control" in body:
        found.append(("cache_control", body["cache_control"]))
    for where, value in found:
        if (
            not isinstance(value, dict)
            or value.get("type") != "ephemeral"
            or set(value) - {"type", "ttl"}
            or value.get("ttl", "5m") not in ("5m", "1h")
        ):
            raise Invalid(f"{where}: Input should be {{'type': 'ephemeral'}}")
    if len(found) > MAX_CACHE_BREAKPOINTS:
        raise Invalid(
            f"A maximum of {MAX_CACHE_BREAKPOINTS} blocks with cache_control may be "
            f"provided. Found {len(found)}."
        )
    return bool(found)


def cache_usage(body: dict[str, Any], seen: set[str]) -> tuple[int, int]:
    """(cache_creation, cache_read) tokens for a request with ``cache_control``:
    the prefix (system, tools, first message) written once, then read."""
    prefix = [body.get("system"), body.get("tools"), body["messages"][0]]
    key = hashlib.sha256(json.dumps(prefix, sort_keys=True).encode()).hexdigest()
    if key in seen:
        return 0, CACHE_TOKENS
    seen.add(key)
    return CACHE_TOKENS, 0


def check_document(block: dict[str, Any], where: str) -> None:
    source = block.get("source")
    kind = source.get("type") if isinstance(source, dict) else None
    if kind == "base64":
        assert isinstance(source, dict)
        if source.get("media_type") != "application/pdf":
            raise Invalid(f"{where}.document.source.base64.media_type: Input error")
        if not isinstance(source.get("data"), str) or not source["data"]:
            raise Invalid(f"{where}.document.source.base64.data: Field required")
    elif kind == "text":
        assert isinstance(source, dict)
        if source.get("media_type") != "text/plain":
            raise Invalid(f"{where}.document.source.text.media_type: Input error")
        if not isinstance(source.get("data"), str):
            raise Invalid(f"{where}.document.source.text.data: Field required")
    elif kind == "url":
        assert isinstance(source, dict)
        if not str(source.get("url") or "").startswith(("http://", "https://")):
            raise Invalid(f"{where}.document.source.url.url: invalid URL")
    elif kind != "content":
        raise Invalid(f"{where}.document.source: invalid source type")


def check_service_tier(body: dict[str, Any]) -> None:
    if body.get("service_tier", "auto") not in ("auto", "standard_only"):
        raise Invalid("service_tier: Input should be 'auto' or 'standard_only'")


async def thinking_block(emit: Emit, thinking: str) -> None:
    """Block 0 of a streamed answer with thinking on: the text, then its signature."""
    block = {"type": "thinking", "thinking": "", "signature": ""}
    await emit({"type": "content_block_start", "index": 0, "content_block": block})
    half = max(1, len(thinking) // 2)
    for piece in (thinking[:half], thinking[half:]):
        delta = {"type": "thinking_delta", "thinking": piece}
        await emit({"type": "content_block_delta", "index": 0, "delta": delta})
    delta = {"type": "signature_delta", "signature": signature(thinking)}
    await emit({"type": "content_block_delta", "index": 0, "delta": delta})
    await emit({"type": "content_block_stop", "index": 0})
