"""gemini: response translation (vendor answer → canonical), pure vectors."""

from __future__ import annotations

import base64
import struct
from typing import Any

import pytest

from providers.drivers.errors import DriverError
from providers.drivers.gemini.discovery import parse_models_page
from providers.drivers.gemini.embeddings import build_embed_bodies, embeddings_result
from providers.drivers.gemini.response import (
    map_finish_reason,
    parse_chat_response,
    parse_usage,
)
from providers.drivers.gemini.signatures import (
    decode_tool_id,
)
from tests.providers.drivers.gemini.support import TIME, TOOL_HISTORY, WEATHER, body_for
from tests.providers.drivers.vectors import user


def test_assistant_tool_calls_and_results_translate_with_signatures() -> None:
    body = body_for(messages=TOOL_HISTORY, tools=[WEATHER, TIME])
    assert body["contents"][1:] == [
        {
            "role": "model",
            "parts": [
                {"text": "Checking."},
                {
                    "functionCall": {"name": "get_weather", "args": {"city": "Paris"}},
                    "thoughtSignature": "c2lnbmF0dXJl+/==",
                },
                {"functionCall": {"name": "get_time", "args": {}}},
            ],
        },
        {
            "role": "user",
            "parts": [
                {
                    "functionResponse": {
                        "name": "get_time",
                        "response": {"content": "noon"},
                    }
                },
                {
                    "functionResponse": {
                        "name": "get_weather",
                        "response": {"temp_c": 18},
                    }
                },
                {"text": "Thanks, and tomorrow?"},
            ],
        },
    ]


def test_tool_result_for_an_unknown_call_is_400() -> None:
    messages = [user("hi"), {"role": "tool", "tool_call_id": "nope", "content": "x"}]
    with pytest.raises(DriverError) as err:
        body_for(messages=messages)
    assert err.value.param == "messages[1].tool_call_id"


@pytest.mark.parametrize(
    ("reason", "tools", "expected"),
    [
        ("STOP", False, "stop"),
        ("STOP", True, "tool_calls"),
        (None, False, "stop"),
        ("FINISH_REASON_UNSPECIFIED", False, "stop"),
        ("MAX_TOKENS", False, "length"),
        ("MAX_TOKENS", True, "length"),
        ("SAFETY", False, "content_filter"),
        ("RECITATION", False, "content_filter"),
        ("BLOCKLIST", False, "content_filter"),
        ("PROHIBITED_CONTENT", False, "content_filter"),
        ("SPII", False, "content_filter"),
        ("IMAGE_SAFETY", False, "content_filter"),
        ("MALFORMED_FUNCTION_CALL", False, "stop"),
    ],
)
def test_finish_reasons_map_per_table(reason: Any, tools: bool, expected: str) -> None:
    assert map_finish_reason(reason, tools) == expected


def test_usage_adds_tool_prompt_and_thought_tokens() -> None:
    usage = parse_usage(
        {
            "promptTokenCount": 100,
            "toolUsePromptTokenCount": 5,
            "candidatesTokenCount": 20,
            "thoughtsTokenCount": 30,
            "cachedContentTokenCount": 64,
            "totalTokenCount": 155,
        }
    )
    assert usage == {
        "prompt_tokens": 105,
        "completion_tokens": 50,
        "total_tokens": 155,
        "prompt_tokens_details": {"cached_tokens": 64},
        "completion_tokens_details": {"reasoning_tokens": 30},
    }


def test_a_response_with_thoughts_text_and_calls_becomes_one_choice() -> None:
    data = {
        "candidates": [
            {
                "content": {
                    "role": "model",
                    "parts": [
                        {"text": "Let me think.", "thought": True},
                        {"text": "Checking"},
                        {"text": "."},
                        {
                            "functionCall": {
                                "name": "get_weather",
                                "args": {"city": "Paris"},
                            },
                            "thoughtSignature": "AAEC",
                        },
                        {
                            "functionCall": {
                                "name": "get_time",
                                "args": {},
                                "id": "fc-9",
                            }
                        },
                    ],
                },
                "finishReason": "STOP",
                "index": 0,
            }
        ],
        "usageMetadata": {"promptTokenCount": 11, "candidatesTokenCount": 7},
        "responseId": "abc",
    }
    out = parse_chat_response(data, "m")
    assert out["id"] == "chatcmpl-abc"
    assert out["object"] == "chat.completion"
    choice = out["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    message = choice["message"]
    assert message["content"] == "Checking."
    assert message["reasoning_content"] == "Let me think."
    first, second = message["tool_calls"]
    assert first["function"] == {
        "name": "get_weather",
        "arguments": '{"city": "Paris"}',
    }
    assert first["id"].startswith("call_") and len(first["id"].split("__ts__")[0]) == 29
    assert decode_tool_id(first["id"])[1] == "AAEC"
    assert second["id"] == "fc-9"
    assert out["usage"]["total_tokens"] == 18


def test_a_blocked_prompt_is_an_empty_content_filter_answer() -> None:
    out = parse_chat_response({"promptFeedback": {"blockReason": "SAFETY"}})
    assert out["choices"] == [
        {
            "index": 0,
            "message": {"role": "assistant", "content": ""},
            "finish_reason": "content_filter",
            "logprobs": None,
        }
    ]


def test_embedding_requests_are_batched_and_text_only() -> None:
    bodies = build_embed_bodies(
        {"input": ["a", "b", "c"], "dimensions": 8},
        "gemini-embedding-001",
        batch_size=2,
    )
    assert bodies == [
        {
            "requests": [
                {
                    "model": "models/gemini-embedding-001",
                    "content": {"parts": [{"text": t}]},
                    "outputDimensionality": 8,
                }
                for t in ("a", "b")
            ]
        },
        {
            "requests": [
                {
                    "model": "models/gemini-embedding-001",
                    "content": {"parts": [{"text": "c"}]},
                    "outputDimensionality": 8,
                }
            ]
        },
    ]
    for bad in ([1, 2, 3], [[1, 2]], "", [], ["ok", ""]):
        with pytest.raises(DriverError) as err:
            build_embed_bodies({"input": bad}, "m")
        assert err.value.status == 400


def test_embeddings_can_be_encoded_as_base64_locally() -> None:
    out = embeddings_result([[0.5, -1.0]], "m", "base64")
    raw = base64.b64decode(out["data"][0]["embedding"])
    assert struct.unpack("<2f", raw) == (0.5, -1.0)
    assert embeddings_result([[0.5]], "m")["data"][0]["embedding"] == [0.5]


def test_models_pages_parse_to_model_infos() -> None:
    page = {
        "models": [
            {
                "name": "models/gemini-2.5-flash",
                "displayName": "Gemini 2.5 Flash",
                "inputTokenLimit": 1048576,
                "supportedGenerationMethods": ["generateContent", "countTokens"],
            },
            {
                "name": "models/text-embedding-004",
                "supportedGenerationMethods": ["embedContent"],
                "inputTokenLimit": 2048,
            },
            {"name": "models/imagen-4", "supportedGenerationMethods": ["predict"]},
        ],
        "nextPageToken": "next",
    }
    models, token = parse_models_page(page)
    assert token == "next"
    assert [(m.model_id, m.name, m.model_type, m.context_window) for m in models] == [
        ("gemini-2.5-flash", "Gemini 2.5 Flash", "inference", 1048576),
        ("text-embedding-004", "text-embedding-004", "embedding", 2048),
    ]
