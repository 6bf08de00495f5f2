"""A canonical chat completion as a Response object in OpenAI's shape (pure).

``skeleton(body, ...)`` is the Response a request starts as (``in_progress``,
no output): every field OpenAI echoes, with OpenAI's defaults where the
request left them out. ``from_canonical`` completes it from a chat
completion: a reasoning item (when the message has ``reasoning_content``), a
message item with one ``output_text`` (or ``refusal``) part, one
``function_call`` item per tool call, the status (``incomplete`` with its
reason on ``length`` / ``content_filter``) and the usage. The item builders,
``finished`` and ``usage`` are shared with the stream (``stream.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.responses.ids import new_id

# Canonical finish reasons that end a response early, and OpenAI's reason.
INCOMPLETE = {"length": "max_output_tokens", "content_filter": "content_filter"}


def skeleton(
    body: Mapping[str, Any], *, response_id: str, created_at: int, model: str
) -> dict[str, Any]:
    """The in-progress Response for ``body``: no output, no usage yet."""
    text = dict(body.get("text") or {})
    text.setdefault("format", {"type": "text"})
    text.setdefault("verbosity", "medium")
    reasoning = body.get("reasoning") or {}
    return {
        "id": response_id,
        "object": "response",
        "created_at": created_at,
        "status": "in_progress",
        "background": False,
        "completed_at": None,
        "error": None,
        "incomplete_details": None,
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "max_tool_calls": None,
        "model": model,
        "output": [],
        "parallel_tool_calls": _given(body, "parallel_tool_calls", True),
        "previous_response_id": body.get("previous_response_id"),
        "prompt_cache_key": body.get("prompt_cache_key"),
        "reasoning": {"effort": reasoning.get("effort"), "summary": None},
        "safety_identifier": body.get("safety_identifier"),
        "service_tier": _given(body, "service_tier", "default"),
        "store": _given(body, "store", True),
        "temperature": _given(body, "temperature", 1.0),
        "text": text,
        "tool_choice": _given(body, "tool_choice", "auto"),
        "tools": [_tool(tool) for tool in body.get("tools") or []],
        "top_logprobs": 0,
        "top_p": _given(body, "top_p", 1.0),
        "truncation": _given(body, "truncation", "disabled"),
        "usage": None,
        "user": body.get("user"),
        "metadata": body.get("metadata") or {},
    }


def _given(body: Mapping[str, Any], name: str, default: Any) -> Any:
    value = body.get(name)
    return default if value is None else value


def _tool(tool: Mapping[str, Any]) -> dict[str, Any]:
    """A function tool as OpenAI echoes it: every field present."""
    return {
        "type": "function",
        "name": tool["name"],
        "description": tool.get("description"),
        "parameters": tool.get("parameters"),
        "strict": tool.get("strict"),
    }


def from_canonical(
    completion: Mapping[str, Any],
    body: Mapping[str, Any],
    *,
    response_id: str,
    created_at: int,
    model: str,
    completed_at: int | None = None,
) -> dict[str, Any]:
    """The Response object for a canonical ``chat.completion``."""
    choices = completion.get("choices") or [{}]
    choice = choices[0]
    message = choice.get("message") or {}
    finish_reason = choice.get("finish_reason")
    status = "incomplete" if finish_reason in INCOMPLETE else "completed"
    output: list[dict[str, Any]] = []
    reasoning = message.get("reasoning_content")
    if isinstance(reasoning, str) and reasoning:
        output.append(reasoning_item(new_id("rs"), reasoning))
    parts = []
    if message.get("content"):
        parts.append(text_part(message["content"]))
    if message.get("refusal"):
        parts.append(refusal_part(message["refusal"]))
    if parts:
        output.append(message_item(new_id("msg"), parts, status))
    for call in message.get("tool_calls") or []:
        function = call.get("function") or {}
        output.append(
            function_call_item(
                new_id("fc"),
                call.get("id") or "",
                function.get("name") or "",
                function.get("arguments") or "",
                "completed",
            )
        )
    response = skeleton(
        body, response_id=response_id, created_at=created_at, model=model
    )
    return finished(
        response, output, finish_reason, completion.get("usage"), completed_at
    )


def finished(
    response: dict[str, Any],
    output: list[dict[str, Any]],
    finish_reason: Any,
    canonical_usage: Mapping[str, Any] | None,
    completed_at: int | None,
) -> dict[str, Any]:
    """``response`` ended: its output, status, reason and usage."""
    reason = INCOMPLETE.get(finish_reason) if isinstance(finish_reason, str) else None
    return {
        **response,
        "status": "incomplete" if reason else "completed",
        "completed_at": None if reason else completed_at,
        "incomplete_details": {"reason": reason} if reason else None,
        "output": output,
        "usage": usage(canonical_usage),
    }


def reasoning_item(item_id: str, text: str) -> dict[str, Any]:
    """Reasoning text as a reasoning item: no summary, the text as its content."""
    return {
        "id": item_id,
        "type": "reasoning",
        "summary": [],
        "content": [{"type": "reasoning_text", "text": text}],
    }


def message_item(
    item_id: str, parts: list[dict[str, Any]], status: str
) -> dict[str, Any]:
    return {
        "id": item_id,
        "type": "message",
        "status": status,
        "content": parts,
        "role": "assistant",
    }


def text_part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "annotations": [], "logprobs": [], "text": text}


def refusal_part(text: str) -> dict[str, Any]:
    return {"type": "refusal", "refusal": text}


def function_call_item(
    item_id: str, call_id: str, name: str, arguments: str, status: str
) -> dict[str, Any]:
    return {
        "id": item_id,
        "type": "function_call",
        "status": status,
        "arguments": arguments,
        "call_id": call_id,
        "name": name,
    }


def usage(canonical: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """OpenAI's Responses usage from canonical usage (none when none came).

    Cache writes are what Anthropic-style drivers report as
    ``prompt_tokens_details.cache_creation_tokens``.
    """
    if not canonical:
        return None
    prompt = _count(canonical.get("prompt_tokens"))
    completion = _count(canonical.get("completion_tokens"))
    details = canonical.get("prompt_tokens_details") or {}
    reasoning = (canonical.get("completion_tokens_details") or {}).get(
        "reasoning_tokens"
    )
    return {
        "input_tokens": prompt,
        "input_tokens_details": {
            "cached_tokens": _count(details.get("cached_tokens")),
            "cache_write_tokens": _count(details.get("cache_creation_tokens")),
        },
        "output_tokens": completion,
        "output_tokens_details": {"reasoning_tokens": _count(reasoning)},
        "total_tokens": _count(canonical.get("total_tokens")) or prompt + completion,
    }


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
