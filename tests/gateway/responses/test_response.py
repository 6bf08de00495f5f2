"""Canonical chat completions as Response objects in OpenAI's shape (pure)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from openai.types.responses import Response

from gateway.responses.ids import new_id
from gateway.responses.response import from_canonical

USAGE = {
    "prompt_tokens": 20,
    "completion_tokens": 9,
    "total_tokens": 29,
    "prompt_tokens_details": {"cached_tokens": 4},
    "completion_tokens_details": {"reasoning_tokens": 3},
}


def completion(
    message: dict[str, Any], finish_reason: str = "stop", usage: Any = USAGE
) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", **message},
                "finish_reason": finish_reason,
            }
        ],
        "usage": usage,
    }


def build(
    message: dict[str, Any], body: dict[str, Any] | None = None, **kw: Any
) -> dict[str, Any]:
    out = from_canonical(
        completion(message, **kw),
        body or {"model": "gpt-x", "input": "Hi"},
        response_id="resp_" + "a" * 48,
        created_at=1700000000,
        model="my-model",
    )
    Response.model_validate(out)
    return out


@pytest.mark.parametrize("prefix", ["resp", "msg", "fc", "rs"])
def test_ids_are_the_prefix_and_48_hex(prefix: str) -> None:
    assert re.fullmatch(rf"{prefix}_[0-9a-f]{{48}}", new_id(prefix))
    assert new_id(prefix) != new_id(prefix)


def test_a_text_answer_with_openai_defaults() -> None:
    out = build({"content": "Hello"})
    item_id = out["output"][0].pop("id")
    assert re.fullmatch(r"msg_[0-9a-f]{48}", item_id)
    assert out == {
        "id": "resp_" + "a" * 48,
        "object": "response",
        "created_at": 1700000000,
        "status": "completed",
        "background": False,
        "completed_at": None,
        "error": None,
        "incomplete_details": None,
        "instructions": None,
        "max_output_tokens": None,
        "max_tool_calls": None,
        "model": "my-model",
        "output": [
            {
                "type": "message",
                "status": "completed",
                "content": [
                    {
                        "type": "output_text",
                        "annotations": [],
                        "logprobs": [],
                        "text": "Hello",
                    }
                ],
                "role": "assistant",
            }
        ],
        "parallel_tool_calls": True,
        "previous_response_id": None,
        "prompt_cache_key": None,
        "reasoning": {"effort": None, "summary": None},
        "safety_identifier": None,
        "service_tier": "default",
        "store": True,
        "temperature": 1.0,
        "text": {"format": {"type": "text"}, "verbosity": "medium"},
        "tool_choice": "auto",
        "tools": [],
        "top_logprobs": 0,
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": {
            "input_tokens": 20,
            "input_tokens_details": {"cached_tokens": 4, "cache_write_tokens": 0},
            "output_tokens": 9,
            "output_tokens_details": {"reasoning_tokens": 3},
            "total_tokens": 29,
        },
        "user": None,
        "metadata": {},
    }
    assert Response.model_validate(build({"content": "Hello"})).output_text == "Hello"


def test_the_request_parameters_are_echoed() -> None:
    body = {
        "model": "gpt-x",
        "input": "Hi",
        "instructions": "Be brief.",
        "max_output_tokens": 50,
        "metadata": {"k": "v"},
        "parallel_tool_calls": False,
        "previous_response_id": "resp_prev",
        "reasoning": {"effort": "low"},
        "store": False,
        "temperature": 0.2,
        "text": {"format": {"type": "json_object"}},
        "tool_choice": "required",
        "tools": [{"type": "function", "name": "f", "parameters": {"type": "object"}}],
        "top_p": 0.5,
        "truncation": "auto",
        "user": "u1",
        "service_tier": "flex",
        "prompt_cache_key": "p",
        "safety_identifier": "s",
    }
    out = build({"content": "{}"}, body)
    for key in (
        "instructions",
        "max_output_tokens",
        "metadata",
        "parallel_tool_calls",
        "previous_response_id",
        "store",
        "temperature",
        "tool_choice",
        "top_p",
        "truncation",
        "user",
        "service_tier",
        "prompt_cache_key",
        "safety_identifier",
    ):
        assert out[key] == body[key], key
    assert out["model"] == "my-model"
    assert out["reasoning"] == {"effort": "low", "summary": None}
    assert out["text"] == {"format": {"type": "json_object"}, "verbosity": "medium"}
    assert out["tools"] == [
        {
            "type": "function",
            "name": "f",
            "description": None,
            "parameters": {"type": "object"},
            "strict": None,
        }
    ]


def test_reasoning_text_and_function_calls_are_items_in_order() -> None:
    out = build(
        {
            "content": "Let me check.",
            "reasoning_content": "Need weather.",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "a", "arguments": '{"x":1}'},
                },
                {
                    "id": "call_2",
                    "type": "function",
                    "function": {"name": "b", "arguments": "{}"},
                },
            ],
        },
        finish_reason="tool_calls",
    )
    kinds = [item["type"] for item in out["output"]]
    assert kinds == ["reasoning", "message", "function_call", "function_call"]
    reasoning = out["output"][0]
    assert re.fullmatch(r"rs_[0-9a-f]{48}", reasoning.pop("id"))
    assert reasoning == {
        "type": "reasoning",
        "summary": [],
        "content": [{"type": "reasoning_text", "text": "Need weather."}],
    }
    first = out["output"][2]
    assert re.fullmatch(r"fc_[0-9a-f]{48}", first.pop("id"))
    assert first == {
        "type": "function_call",
        "status": "completed",
        "arguments": '{"x":1}',
        "call_id": "call_1",
        "name": "a",
    }
    assert out["status"] == "completed"


def test_tool_calls_alone_make_no_message_item() -> None:
    out = build(
        {
            "content": None,
            "tool_calls": [
                {
                    "id": "c",
                    "type": "function",
                    "function": {"name": "a", "arguments": "{}"},
                }
            ],
        },
        finish_reason="tool_calls",
    )
    assert [item["type"] for item in out["output"]] == ["function_call"]


@pytest.mark.parametrize(
    ("finish", "reason"),
    [("length", "max_output_tokens"), ("content_filter", "content_filter")],
)
def test_a_cut_answer_is_incomplete_with_its_reason(finish: str, reason: str) -> None:
    out = build({"content": "Partial"}, finish_reason=finish)
    assert out["status"] == "incomplete"
    assert out["incomplete_details"] == {"reason": reason}
    assert out["output"][0]["status"] == "incomplete"


def test_a_refusal_is_a_refusal_part_and_missing_usage_is_null() -> None:
    out = build({"content": None, "refusal": "I can't."}, usage=None)
    assert out["output"][0]["content"] == [{"type": "refusal", "refusal": "I can't."}]
    assert out["usage"] is None


def test_cache_writes_and_a_missing_total_are_counted() -> None:
    usage = {
        "prompt_tokens": 10,
        "completion_tokens": 5,
        "prompt_tokens_details": {"cache_creation_tokens": 7},
    }
    out = build({"content": "x"}, usage=usage)
    assert out["usage"]["input_tokens_details"] == {
        "cached_tokens": 0,
        "cache_write_tokens": 7,
    }
    assert out["usage"]["total_tokens"] == 15
