"""openai: response translation (vendor answer → canonical), pure vectors."""

from __future__ import annotations

import base64
import struct
from typing import Any

import pytest

from providers.drivers.canonical import floats_to_base64
from providers.drivers.openai.discovery import classify_model, parse_models
from providers.drivers.openai.response import (
    normalize_finish_reason,
    normalize_usage,
    parse_chat_response,
    parse_embeddings_response,
)
from providers.drivers.openai.translate import (
    build_chat_body,
    build_embeddings_body,
)
from tests.providers.drivers.openai.support import cfg, completion_body


def test_reasoning_model_keeps_callers_max_completion_tokens() -> None:
    request = {"max_tokens": 10, "max_completion_tokens": 99}
    body = build_chat_body(cfg(), request, "o3-mini", stream=False)
    assert body == {"model": "o3-mini", "max_completion_tokens": 99}


@pytest.mark.parametrize(
    ("upstream", "canonical"),
    [
        ("stop", "stop"),
        ("length", "length"),
        ("tool_calls", "tool_calls"),
        ("content_filter", "content_filter"),
        ("function_call", "function_call"),
        ("error", "stop"),
        ("eos", "stop"),
        ("max_tokens", "length"),
        ("tool_use", "tool_calls"),
        ("something_new", "stop"),
        (None, "stop"),
    ],
)
def test_finish_reason_mapping(upstream: Any, canonical: str) -> None:
    assert normalize_finish_reason(upstream) == canonical


def test_response_is_returned_as_is() -> None:
    body = completion_body()
    assert parse_chat_response(body) == body


def test_response_normalises_finish_and_usage() -> None:
    body = completion_body(usage={"prompt_tokens": 5, "completion_tokens": 3})
    body["choices"][0]["finish_reason"] = "eos"
    out = parse_chat_response(body)
    assert out["choices"][0]["finish_reason"] == "stop"
    assert out["usage"] == {
        "prompt_tokens": 5,
        "completion_tokens": 3,
        "total_tokens": 8,
    }


def test_usage_mapping_keeps_cache_and_reasoning_details() -> None:
    usage = normalize_usage(
        {
            "prompt_tokens": 100,
            "completion_tokens": 20,
            "prompt_tokens_details": {"cached_tokens": 80},
            "completion_tokens_details": {"reasoning_tokens": 12},
            "prompt_cache_hit_tokens": 80,  # DeepSeek's extra field
        }
    )
    assert usage["total_tokens"] == 120
    assert usage["prompt_tokens_details"] == {"cached_tokens": 80}
    assert usage["completion_tokens_details"] == {"reasoning_tokens": 12}
    assert usage["prompt_cache_hit_tokens"] == 80
    assert normalize_usage({"input_tokens": 3, "output_tokens": 4})["total_tokens"] == 7


def test_embeddings_body_and_response() -> None:
    request = {
        "model": "name",
        "input": [[1, 2], [3]],
        "dimensions": 2,
        "encoding_format": "base64",
    }
    body = build_embeddings_body(cfg(), request, "text-embedding-3-small")
    assert body == {**request, "model": "text-embedding-3-small"}
    upstream = {
        "object": "list",
        "model": "m",
        "data": [{"object": "embedding", "index": 0, "embedding": [0.5, -0.25]}],
        "usage": {"prompt_tokens": 3},
    }
    encoded = parse_embeddings_response(upstream, "base64")
    raw = base64.b64decode(encoded["data"][0]["embedding"])
    assert struct.unpack("<2f", raw) == (0.5, -0.25)
    assert encoded["usage"] == {"prompt_tokens": 3, "total_tokens": 3}
    assert parse_embeddings_response(upstream, None)["data"][0]["embedding"] == [
        0.5,
        -0.25,
    ]
    as_base64 = {**upstream, "data": [{"embedding": floats_to_base64([1.0])}]}
    decoded = parse_embeddings_response(as_base64, "float")["data"][0]
    assert decoded == {"embedding": [1.0], "object": "embedding", "index": 0}


def test_models_parsing_and_classification() -> None:
    data = {
        "object": "list",
        "data": [
            {"id": "gpt-4o", "object": "model", "owned_by": "system"},
            {"id": "text-embedding-3-small", "object": "model"},
            {"id": "nomic-embed-text", "context_length": 8192},
            {"id": "BAAI/bge-reranker-v2-m3"},
            {"id": "mixtral", "name": "Mixtral 8x7B", "context_window": 32768},
            {"object": "model"},
        ],
    }
    models = parse_models(data)
    assert [(m.model_id, m.model_type) for m in models] == [
        ("gpt-4o", "inference"),
        ("text-embedding-3-small", "embedding"),
        ("nomic-embed-text", "embedding"),
        ("BAAI/bge-reranker-v2-m3", "rerank"),
        ("mixtral", "inference"),
    ]
    assert models[2].context_window == 8192
    assert models[4].name == "Mixtral 8x7B" and models[4].context_window == 32768
    # Together answers with a bare list and declares types.
    together = parse_models(
        [{"id": "m-x", "type": "embedding"}, {"id": "r", "type": "rerank"}]
    )
    assert [m.model_type for m in together] == ["embedding", "rerank"]
    assert classify_model("text-embedding-ada-002") == "embedding"
