"""ollama: response translation (vendor answer → canonical), pure vectors."""

from __future__ import annotations

import base64
import json
import struct

import pytest

from providers.drivers.config import ModelInfo
from providers.drivers.errors import DriverError
from providers.drivers.ollama.discovery import apply_show, parse_models, parse_show
from providers.drivers.ollama.embeddings import build_embed_body, parse_embed_response
from providers.drivers.ollama.response import (
    parse_chat_response,
    usage_from,
)
from providers.drivers.ollama.translate import (
    translate_messages,
)
from tests.providers.drivers.ollama.support import CALL_ID_RE, MODEL, cfg, tool_history


def test_assistant_tool_calls_become_objects_and_tool_result_gets_name():
    out = translate_messages(tool_history())
    assert out[1] == {
        "role": "assistant",
        "content": "",
        "tool_calls": [
            {
                "id": "call_abc",
                "function": {"name": "get_weather", "arguments": {"city": "Paris"}},
            }
        ],
    }
    assert out[2] == {
        "role": "tool",
        "content": "18C and sunny",
        "tool_call_id": "call_abc",
        "tool_name": "get_weather",
    }


def test_parse_text_response():
    out = parse_chat_response(
        {
            "model": MODEL,
            "created_at": "2024-07-22T20:33:28.123648123Z",
            "message": {"role": "assistant", "content": "Hi!", "thinking": "hmm"},
            "done": True,
            "done_reason": "stop",
            "prompt_eval_count": 26,
            "eval_count": 3,
        }
    )
    assert out["object"] == "chat.completion"
    assert out["id"].startswith("chatcmpl-")
    assert out["created"] == 1721680408
    assert out["choices"] == [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": "Hi!",
                "reasoning_content": "hmm",
            },
            "finish_reason": "stop",
            "logprobs": None,
        }
    ]
    assert out["usage"] == {
        "prompt_tokens": 26,
        "completion_tokens": 3,
        "total_tokens": 29,
    }


def test_parse_tool_call_response_synthesises_ids():
    out = parse_chat_response(
        {
            "model": MODEL,
            "message": {
                "role": "assistant",
                "content": "",
                "tool_calls": [
                    {
                        "function": {
                            "name": "get_weather",
                            "arguments": {"city": "Paris"},
                        }
                    },
                    {
                        "id": "call_x1",
                        "function": {"index": 1, "name": "get_time", "arguments": {}},
                    },
                ],
            },
            "done": True,
            "done_reason": "stop",
        }
    )
    choice = out["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    first, second = choice["message"]["tool_calls"]
    assert CALL_ID_RE.match(first["id"])
    assert first["type"] == "function"
    assert json.loads(first["function"]["arguments"]) == {"city": "Paris"}
    assert second["id"] == "call_x1"
    assert second["function"] == {"name": "get_time", "arguments": "{}"}
    assert out["usage"] == {
        "prompt_tokens": 0,
        "completion_tokens": 0,
        "total_tokens": 0,
    }


def test_usage_absent_counts_are_zero():
    assert usage_from({"eval_count": 5}) == {
        "prompt_tokens": 0,
        "completion_tokens": 5,
        "total_tokens": 5,
    }


def test_embed_body_and_response():
    assert build_embed_body(cfg(), {"input": "hi", "dimensions": 2}, "nomic") == {
        "model": "nomic",
        "input": "hi",
        "dimensions": 2,
    }
    body = build_embed_body(
        cfg(embed_truncate=False, keep_alive=0), {"input": ["a", "b"]}, "m"
    )
    assert body == {
        "model": "m",
        "input": ["a", "b"],
        "truncate": False,
        "keep_alive": 0,
    }
    for bad in ([1, 2, 3], [[1, 2]], "", [], None):
        with pytest.raises(DriverError) as err:
            build_embed_body(cfg(), {"input": bad}, "m")
        assert err.value.param == "input"
    with pytest.raises(DriverError):
        build_embed_body(cfg(), {"input": "a", "encoding_format": "hex"}, "m")
    upstream = {
        "model": "m",
        "embeddings": [[0.5, -1.0], [0.25, 2.0]],
        "prompt_eval_count": 4,
    }
    out = parse_embed_response(upstream, {"input": ["a", "b"]})
    assert out == {
        "object": "list",
        "data": [
            {"object": "embedding", "index": 0, "embedding": [0.5, -1.0]},
            {"object": "embedding", "index": 1, "embedding": [0.25, 2.0]},
        ],
        "model": "m",
        "usage": {"prompt_tokens": 4, "total_tokens": 4},
    }
    b64 = parse_embed_response(upstream, {"encoding_format": "base64"})["data"][0][
        "embedding"
    ]
    assert struct.unpack("<2f", base64.b64decode(b64)) == (0.5, -1.0)


def test_parse_models_and_show():
    models = parse_models(
        {
            "models": [
                {
                    "name": "llama3.2:latest",
                    "model": "llama3.2:latest",
                    "details": {"family": "llama"},
                },
                {
                    "name": "nomic-embed-text:latest",
                    "model": "nomic-embed-text:latest",
                    "details": {"family": "nomic-bert"},
                },
                {
                    "name": "mxbai-embed-large:latest",
                    "model": "mxbai-embed-large:latest",
                    "details": {"family": "bert"},
                },
                {
                    "name": "bge-m3:latest",
                    "model": "bge-m3:latest",
                    "details": {"family": "bert"},
                },
            ]
        }
    )
    assert [(m.model_id, m.model_type) for m in models] == [
        ("llama3.2:latest", "inference"),
        ("nomic-embed-text:latest", "embedding"),
        ("mxbai-embed-large:latest", "embedding"),
        ("bge-m3:latest", "embedding"),
    ]
    show = {
        "model_info": {"general.architecture": "llama", "llama.context_length": 131072},
        "capabilities": ["completion", "tools"],
    }
    assert parse_show(show) == (131072, ["completion", "tools"])
    updated = apply_show(ModelInfo("x:latest", "x:latest", "embedding"), show)
    assert updated.model_type == "inference"
    assert updated.context_window == 131072
    with pytest.raises(DriverError):
        parse_models({"nope": []})
