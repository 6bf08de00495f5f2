"""bedrock: response translation (vendor answer → canonical), pure vectors."""

from __future__ import annotations

import base64
import json
import struct

import pytest

from providers.drivers.bedrock.discovery import parse_models
from providers.drivers.bedrock.embeddings import embeddings_response
from providers.drivers.bedrock.response import (
    map_stop_reason,
    map_usage,
    parse_converse_response,
)


def test_it_parses_text_and_tool_calls() -> None:
    data = {
        "output": {
            "message": {
                "role": "assistant",
                "content": [
                    {"reasoningContent": {"reasoningText": {"text": "hmm"}}},
                    {"text": "Checking."},
                    {
                        "toolUse": {
                            "toolUseId": "t1",
                            "name": "get_weather",
                            "input": {"city": "Paris"},
                        }
                    },
                ],
            }
        },
        "stopReason": "tool_use",
        "usage": {"inputTokens": 30, "outputTokens": 12, "totalTokens": 42},
    }
    out = parse_converse_response(data, "m", "req-1")
    assert out["id"] == "chatcmpl-req-1"
    choice = out["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] == "Checking."
    assert choice["message"]["reasoning_content"] == "hmm"
    call = choice["message"]["tool_calls"][0]
    assert call["id"] == "t1" and call["type"] == "function"
    assert json.loads(call["function"]["arguments"]) == {"city": "Paris"}
    assert out["usage"]["total_tokens"] == 42
    only_tool = {
        "output": {"message": {"content": data["output"]["message"]["content"][2:]}}
    }
    assert (
        parse_converse_response(only_tool, "m")["choices"][0]["message"]["content"]
        is None
    )


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("model_context_window_exceeded", "length"),
        ("tool_use", "tool_calls"),
        ("guardrail_intervened", "content_filter"),
        ("content_filtered", "content_filter"),
        ("malformed_model_output", "stop"),
        ("malformed_tool_use", "stop"),
        ("something_new", "stop"),
        (None, "stop"),
    ],
)
def test_stop_reasons_map_to_finish_reasons(reason: str | None, expected: str) -> None:
    assert map_stop_reason(reason) == expected


def test_usage_counts_cache_reads_and_writes_as_prompt_tokens() -> None:
    usage = map_usage(
        {
            "inputTokens": 10,
            "outputTokens": 4,
            "totalTokens": 14,
            "cacheReadInputTokens": 100,
            "cacheWriteInputTokens": 20,
        }
    )
    assert usage == {
        "prompt_tokens": 130,
        "completion_tokens": 4,
        "total_tokens": 134,
        # Both where PROTOCOLS.md 1.4 puts them (and the gateway bills them).
        "prompt_tokens_details": {"cached_tokens": 100, "cache_creation_tokens": 20},
    }


def test_embeddings_can_be_base64_encoded_locally() -> None:
    out = embeddings_response([[0.5, -1.0]], 3, "m", "base64")
    raw = base64.b64decode(out["data"][0]["embedding"])
    assert struct.unpack("<2f", raw) == (0.5, -1.0)
    assert out["usage"] == {"prompt_tokens": 3, "total_tokens": 3}


def test_parse_models_lists_on_demand_models_and_profiles() -> None:
    foundation = [
        {
            "modelId": "a.text-v1",
            "modelName": "A",
            "outputModalities": ["TEXT"],
            "inferenceTypesSupported": ["ON_DEMAND"],
        },
        {
            "modelId": "a.big-v2",
            "modelName": "Big",
            "outputModalities": ["TEXT"],
            "inferenceTypesSupported": ["INFERENCE_PROFILE"],
        },
        {
            "modelId": "e.embed",
            "modelName": "E",
            "outputModalities": ["EMBEDDING"],
            "inferenceTypesSupported": ["ON_DEMAND"],
        },
        {
            "modelId": "s.image",
            "outputModalities": ["IMAGE"],
            "inferenceTypesSupported": ["ON_DEMAND"],
        },
    ]
    profiles = [
        {
            "inferenceProfileId": "us.a.big-v2",
            "inferenceProfileName": "US Big",
            "status": "ACTIVE",
            "models": [
                {"modelArn": "arn:aws:bedrock:us-east-1::foundation-model/a.big-v2"}
            ],
        },
        {
            "inferenceProfileId": "us.e.embed",
            "inferenceProfileName": "US E",
            "status": "ACTIVE",
            "models": [
                {"modelArn": "arn:aws:bedrock:us-east-1::foundation-model/e.embed"}
            ],
        },
        {
            "inferenceProfileId": "us.s.image",
            "status": "ACTIVE",
            "models": [{"modelArn": "arn:x/s.image"}],
        },
    ]
    models = parse_models(foundation, profiles)
    assert [(m.model_id, m.model_type) for m in models] == [
        ("a.text-v1", "inference"),
        ("e.embed", "embedding"),
        ("us.a.big-v2", "inference"),
        ("us.e.embed", "embedding"),
    ]
