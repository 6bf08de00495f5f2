"""Ollama driver: translation vectors and I/O against the fake server on loopback."""

from __future__ import annotations

import base64
import json
import re
import struct
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from aiohttp import web
from django.test import override_settings

from providers.drivers import driver_class
from providers.drivers.config import DriverConfig, ModelInfo, Timeouts
from providers.drivers.errors import DriverError
from providers.drivers.ollama.discovery import apply_show, parse_models, parse_show
from providers.drivers.ollama.driver import OllamaDriver
from providers.drivers.ollama.embeddings import build_embed_body, parse_embed_response
from providers.drivers.ollama.errors import error_from_body
from providers.drivers.ollama.response import (
    OllamaStreamTranslator,
    map_done_reason,
    parse_chat_response,
    usage_from,
)
from providers.drivers.ollama.translate import (
    build_chat_body,
    build_chat_request,
    image_urls,
    translate_messages,
)
from providers.drivers.ollama.urls import api_url, base_url
from providers.health import health_of
from providers.http import build_client
from tests.fakes.ollama import make_app
from tests.fakes.server import serve

MODEL = "llama3.2:latest"
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\nfake-image-bytes").decode()
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
        "strict": True,
    },
}
TIME_TOOL = {
    "type": "function",
    "function": {"name": "get_time", "parameters": {"type": "object"}},
}
CALL_ID_RE = re.compile(r"^call_[A-Za-z0-9]{24}$")


def cfg(**config: Any) -> DriverConfig:
    return DriverConfig(
        provider_type="ollama",
        base_url="http://localhost:11434",
        auth_method="none",
        config=config,
    )


def body_for(request: dict[str, Any], stream: bool = False, **config: Any):
    return build_chat_body(cfg(**config), request, MODEL, stream)


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


def tool_history() -> list[dict[str, Any]]:
    return [
        user("Weather in Paris?"),
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_abc",
                    "type": "function",
                    "function": {
                        "name": "get_weather",
                        "arguments": '{"city":"Paris"}',
                    },
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_abc", "content": "18C and sunny"},
    ]


# -- request translation ------------------------------------------------------


def test_registry_points_at_driver():
    assert driver_class("ollama") is OllamaDriver


def test_base_url_and_paths():
    assert base_url(cfg()) == "http://localhost:11434"
    c = DriverConfig("ollama", "http://gpu:11434/api/", "none")
    assert api_url(c, "chat") == "http://gpu:11434/api/chat"
    c = DriverConfig("ollama", "http://gpu:11434/v1", "none")
    assert api_url(c, "tags") == "http://gpu:11434/api/tags"
    assert base_url(DriverConfig("ollama", "", "none")) == "http://localhost:11434"


def test_minimal_body_always_sends_stream():
    body = body_for({"model": "alias", "messages": [user("hi")]})
    assert body == {
        "model": MODEL,
        "messages": [{"role": "user", "content": "hi"}],
        "stream": False,
    }
    assert body_for({"messages": [user("hi")]}, stream=True)["stream"] is True


def test_system_and_developer_stay_system_messages_in_order():
    msgs = [
        {"role": "system", "content": "Be brief."},
        {"role": "developer", "content": [{"type": "text", "text": "Use French."}]},
        user("hi"),
        {"role": "assistant", "content": "Salut"},
        user("again"),
    ]
    assert translate_messages(msgs) == [
        {"role": "system", "content": "Be brief."},
        {"role": "system", "content": "Use French."},
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "Salut"},
        {"role": "user", "content": "again"},
    ]


def test_text_parts_joined_and_images_inlined():
    msgs = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is"},
                {
                    "type": "image_url",
                    "image_url": {"url": f"data:image/png;base64,{PNG}"},
                },
                {"type": "text", "text": "in this picture?"},
                {"type": "image_url", "image_url": {"url": "https://x.test/a.jpg"}},
            ],
        }
    ]
    out = translate_messages(msgs, {"https://x.test/a.jpg": "QUJD"})
    assert out == [
        {
            "role": "user",
            "content": "What is\nin this picture?",
            "images": [PNG, "QUJD"],
        }
    ]
    assert image_urls({"messages": msgs}) == [
        ("messages[0].content[3].image_url.url", "https://x.test/a.jpg")
    ]


def test_unfetched_url_bad_data_url_and_audio_are_400():
    def msg(part):
        return [{"role": "user", "content": [part]}]

    with pytest.raises(DriverError) as err:
        translate_messages(
            msg({"type": "image_url", "image_url": {"url": "https://x/a"}})
        )
    assert err.value.status == 400
    assert err.value.param == "messages[0].content[0].image_url.url"
    with pytest.raises(DriverError) as err:
        translate_messages(
            msg({"type": "image_url", "image_url": {"url": "data:image/png;base64,@@"}})
        )
    assert err.value.param == "messages[0].content[0].image_url.url"
    with pytest.raises(DriverError) as err:
        translate_messages(
            msg({"type": "image_url", "image_url": {"url": "ftp://x/a"}})
        )
    assert err.value.status == 400
    with pytest.raises(DriverError) as err:
        translate_messages(
            msg({"type": "input_audio", "input_audio": {"data": "", "format": "wav"}})
        )
    assert err.value.param == "messages[0].content[0].type"


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


def test_empty_arguments_and_unknown_tool_call_id():
    msgs = [
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "f", "arguments": ""},
                }
            ],
        },
        {
            "role": "tool",
            "tool_call_id": "other",
            "content": [{"type": "text", "text": "x"}],
        },
    ]
    out = translate_messages(msgs)
    assert out[0]["tool_calls"][0]["function"]["arguments"] == {}
    assert out[1] == {"role": "tool", "content": "x", "tool_call_id": "other"}


@pytest.mark.parametrize("args", ["{not json", "[1, 2]", '"text"'])
def test_invalid_tool_call_arguments_are_400_naming_the_param(args):
    msgs = [
        user("q"),
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "a",
                    "type": "function",
                    "function": {"name": "f", "arguments": "{}"},
                },
                {
                    "id": "b",
                    "type": "function",
                    "function": {"name": "g", "arguments": args},
                },
            ],
        },
    ]
    with pytest.raises(DriverError) as err:
        body_for({"messages": msgs})
    assert err.value.status == 400
    assert err.value.type == "invalid_request_error"
    assert err.value.param == "messages[1].tool_calls[1].function.arguments"


def test_unknown_role_is_400():
    with pytest.raises(DriverError) as err:
        translate_messages([{"role": "critic", "content": "x"}])
    assert err.value.param == "messages[0].role"


def test_tools_are_cleaned_openai_shape():
    body = body_for({"messages": [user("q")], "tools": [WEATHER, TIME_TOOL]})
    assert body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Weather for a city",
                "parameters": WEATHER["function"]["parameters"],
            },
        },
        {
            "type": "function",
            "function": {"name": "get_time", "parameters": {"type": "object"}},
        },
    ]


def test_tool_choice_variants():
    base = {"messages": [user("q")], "tools": [WEATHER, TIME_TOOL]}
    assert len(body_for({**base, "tool_choice": "auto"})["tools"]) == 2
    assert "tools" not in body_for({**base, "tool_choice": "none"})
    allowed = {
        "type": "allowed_tools",
        "allowed_tools": {
            "mode": "auto",
            "tools": [{"type": "function", "function": {"name": "get_time"}}],
        },
    }
    assert [
        t["function"]["name"]
        for t in body_for({**base, "tool_choice": allowed})["tools"]
    ] == ["get_time"]
    named = {"type": "function", "function": {"name": "get_weather"}}
    for choice in ("required", named):
        with pytest.raises(DriverError) as err:
            body_for({**base, "tool_choice": choice})
        assert err.value.status == 400
        assert err.value.param == "tool_choice"
    # Opt-in degradation: named keeps only the named tool, required keeps all.
    lenient = {"tool_choice_fallback": "auto"}
    assert [
        t["function"]["name"]
        for t in body_for({**base, "tool_choice": named}, **lenient)["tools"]
    ] == ["get_weather"]
    assert len(body_for({**base, "tool_choice": "required"}, **lenient)["tools"]) == 2


def test_custom_tool_type_is_400():
    with pytest.raises(DriverError) as err:
        body_for({"messages": [user("q")], "tools": [{"type": "custom", "custom": {}}]})
    assert err.value.param == "tools[0].type"


def test_options_format_think_keep_alive():
    body = body_for(
        {
            "messages": [user("q")],
            "max_tokens": 50,
            "max_completion_tokens": 99,
            "temperature": 0.2,
            "top_p": 0.9,
            "seed": 7,
            "stop": "END",
            "presence_penalty": 0.5,
            "frequency_penalty": 0.1,
            "user": "u-1",
            "logit_bias": {"1": 2},
            "parallel_tool_calls": False,
            "response_format": {"type": "json_object"},
            "reasoning_effort": "minimal",
        },
        keep_alive="10m",
        options={"num_ctx": 8192, "temperature": 1.0},
    )
    assert body["options"] == {
        "num_ctx": 8192,
        "num_predict": 99,
        "temperature": 0.2,
        "top_p": 0.9,
        "seed": 7,
        "presence_penalty": 0.5,
        "frequency_penalty": 0.1,
        "stop": ["END"],
    }
    assert body["format"] == "json"
    assert body["think"] == "low"
    assert body["keep_alive"] == "10m"
    assert "user" not in body and "logit_bias" not in body


def test_json_schema_format_and_max_tokens_alias():
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    body = body_for(
        {
            "messages": [user("q")],
            "max_tokens": 12,
            "stop": ["a", "b"],
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "x", "schema": schema},
            },
            "reasoning_effort": "none",
        }
    )
    assert body["format"] == schema
    assert body["options"] == {"num_predict": 12, "stop": ["a", "b"]}
    assert body["think"] is False
    assert "format" not in body_for(
        {"messages": [user("q")], "response_format": {"type": "text"}}
    )


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"n": 2}, "n"),
        ({"logprobs": True}, "logprobs"),
        (
            {"response_format": {"type": "json_schema", "json_schema": {"name": "x"}}},
            "response_format.json_schema.schema",
        ),
        ({"reasoning_effort": "galaxy"}, "reasoning_effort"),
        ({"messages": []}, "messages"),
    ],
)
def test_shape_changing_params_are_400(extra, param):
    with pytest.raises(DriverError) as err:
        body_for({"messages": [user("q")], **extra})
    assert err.value.status == 400
    assert err.value.param == param


def test_build_request_headers_and_url():
    req = build_chat_request(
        cfg(), {"messages": [user("q")]}, MODEL, True, {"Authorization": "Bearer k"}
    )
    assert req.method == "POST"
    assert req.url == "http://localhost:11434/api/chat"
    assert req.headers == {
        "Authorization": "Bearer k",
        "Content-Type": "application/json",
    }
    assert json.loads(req.body_bytes())["stream"] is True


# -- response translation -----------------------------------------------------


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


@pytest.mark.parametrize(
    ("reason", "tools", "expected"),
    [
        ("stop", False, "stop"),
        ("", False, "stop"),
        (None, False, "stop"),
        ("load", False, "stop"),
        ("unload", False, "stop"),
        ("length", False, "length"),
        ("stop", True, "tool_calls"),
        ("something_new", False, "stop"),
    ],
)
def test_done_reason_mapping(reason, tools, expected):
    assert map_done_reason(reason, tools) == expected


def test_usage_absent_counts_are_zero():
    assert usage_from({"eval_count": 5}) == {
        "prompt_tokens": 0,
        "completion_tokens": 5,
        "total_tokens": 5,
    }


@pytest.mark.parametrize(
    ("status", "message", "out_status", "code"),
    [
        (
            404,
            'model "x" not found, try pulling it first',
            502,
            "upstream_model_not_found",
        ),
        (
            500,
            'model "x" not found, try pulling it first',
            502,
            "upstream_model_not_found",
        ),
        (400, "invalid options", 400, "upstream_invalid_request"),
        (401, "unauthorized", 502, "upstream_auth_error"),
        (429, "too many", 429, "upstream_rate_limited"),
        (500, "llama runner process has terminated", 502, "upstream_error"),
        (502, "remote model is unavailable", 502, "upstream_error"),
        (503, "server busy", 503, "upstream_unavailable"),
    ],
)
def test_error_mapping(status, message, out_status, code):
    err = error_from_body(
        status, json.dumps({"error": message}).encode(), {"retry-after": "3"}
    )
    assert (err.status, err.code) == (out_status, code)
    assert message in err.message
    if status == 429:
        assert err.retry_after == 3.0


def test_error_in_200_body():
    with pytest.raises(DriverError) as err:
        parse_chat_response({"error": "boom"})
    assert err.value.status == 502
    assert "boom" in err.value.message


# -- stream translation ---------------------------------------------------------


def _lines(*messages: dict[str, Any], done: dict[str, Any] | None = None):
    events = [
        {
            "model": MODEL,
            "created_at": "x",
            "message": {"role": "assistant", **m},
            "done": False,
        }
        for m in messages
    ]
    events.append(
        {
            "model": MODEL,
            "message": {"role": "assistant", "content": ""},
            "done": True,
            **(
                done
                or {"done_reason": "stop", "prompt_eval_count": 11, "eval_count": 7}
            ),
        }
    )
    return events


def _run(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    t = OllamaStreamTranslator()
    out: list[dict[str, Any]] = []
    for e in events:
        out.extend(t.feed(e))
    out.extend(t.finish())
    return out


def test_stream_text():
    chunks = _run(_lines({"content": "Hel"}, {"content": ""}, {"content": "lo"}))
    assert chunks == [
        {
            "choices": [
                {
                    "index": 0,
                    "delta": {"role": "assistant", "content": ""},
                    "finish_reason": None,
                }
            ]
        },
        {"choices": [{"index": 0, "delta": {"content": "Hel"}, "finish_reason": None}]},
        {"choices": [{"index": 0, "delta": {"content": "lo"}, "finish_reason": None}]},
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
        {
            "choices": [],
            "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18},
        },
    ]


def test_stream_interleaved_text_and_multiple_tools():
    chunks = _run(
        _lines(
            {"content": "", "thinking": "plan"},
            {"content": "Checking."},
            {
                "content": "",
                "tool_calls": [{"function": {"name": "a", "arguments": {"x": 1}}}],
            },
            {"content": " more"},
            {
                "content": "",
                "tool_calls": [
                    {"id": "call_b", "function": {"name": "b", "arguments": {}}},
                    {"function": {"name": "c", "arguments": {"y": [1, 2]}}},
                ],
            },
        )
    )
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    assert deltas[1] == {"reasoning_content": "plan"}
    assert deltas[2] == {"content": "Checking."}
    starts = [
        d["tool_calls"][0]
        for d in deltas
        if "tool_calls" in d and "id" in d["tool_calls"][0]
    ]
    assert [(s["index"], s["function"]["name"]) for s in starts] == [
        (0, "a"),
        (1, "b"),
        (2, "c"),
    ]
    assert all(
        s["type"] == "function" and s["function"]["arguments"] == "" for s in starts
    )
    assert starts[1]["id"] == "call_b"
    assert CALL_ID_RE.match(starts[0]["id"])
    args: dict[int, str] = {}
    for d in deltas:
        for tc in d.get("tool_calls", []):
            if "id" not in tc:
                assert set(tc) == {"index", "function"}
                assert set(tc["function"]) == {"arguments"}
            args[tc["index"]] = args.get(tc["index"], "") + tc["function"]["arguments"]
    assert [json.loads(args[k]) for k in range(3)] == [{"x": 1}, {}, {"y": [1, 2]}]
    assert {"content": " more"} in deltas
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"
    assert chunks[-1]["usage"]["total_tokens"] == 18


def test_stream_length_and_missing_counts():
    chunks = _run(_lines({"content": "a"}, done={"done_reason": "length"}))
    assert chunks[-2]["choices"][0]["finish_reason"] == "length"
    assert chunks[-1] == {
        "choices": [],
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
    }


def test_stream_error_line_and_truncation_raise():
    t = OllamaStreamTranslator()
    t.feed(_lines({"content": "a"})[0])
    with pytest.raises(DriverError) as err:
        t.feed({"error": "an error was encountered while running the model"})
    assert err.value.status == 502
    assert "encountered" in err.value.message
    t = OllamaStreamTranslator()
    t.feed(_lines({"content": "a"})[0])
    with pytest.raises(DriverError):
        t.finish()


def test_stream_only_done_line_still_emits_role_chunk():
    chunks = _run(_lines())
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert chunks[1]["choices"][0]["finish_reason"] == "stop"


# -- embeddings and discovery (pure) ----------------------------------------------


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


# -- I/O against the fake -----------------------------------------------------------


def run(
    app: web.Application,
    body: Callable[[OllamaDriver], Awaitable[Any]],
    api_key: str | None = None,
    timeouts: Timeouts | None = None,
    **config: Any,
) -> Any:
    import asyncio

    with serve(app) as server:

        async def main() -> Any:
            client = build_client()
            try:
                driver = OllamaDriver(
                    DriverConfig(
                        provider_type="ollama",
                        base_url=server.url,
                        auth_method="bearer" if api_key else "none",
                        credentials={"api_key": api_key} if api_key else {},
                        config=config,
                        timeouts=timeouts or Timeouts(),
                    ),
                    client,
                )
                return await body(driver)
            finally:
                await client.aclose()

        return asyncio.run(main())


async def collect(driver: OllamaDriver, request: dict[str, Any], model: str = MODEL):
    return [chunk async for chunk in driver.chat_stream(request, model)]


def text_of(chunks: list[dict[str, Any]]) -> str:
    return "".join(
        c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"]
    )


def test_io_text():
    app = make_app()
    out = run(
        app, lambda d: d.chat({"model": "alias", "messages": [user("hi")]}, MODEL)
    )
    assert out["choices"][0]["message"] == {
        "role": "assistant",
        "content": "Hello from ollama: hi",
    }
    assert out["choices"][0]["finish_reason"] == "stop"
    assert out["usage"] == {
        "prompt_tokens": 11,
        "completion_tokens": 7,
        "total_tokens": 18,
    }
    sent = app["requests"][0]
    assert sent["path"] == "/api/chat"
    assert sent["json"]["stream"] is False
    assert sent["json"]["model"] == MODEL


def test_io_multi_turn_with_system_prompt_and_auth():
    app = make_app(api_key="sekrit")
    request = {
        "messages": [
            {"role": "system", "content": "Be nice."},
            user("first"),
            {"role": "assistant", "content": "ok"},
            user("second"),
        ],
        "max_tokens": 20,
        "temperature": 0.3,
    }
    out = run(app, lambda d: d.chat(request, MODEL), api_key="sekrit")
    assert out["choices"][0]["message"]["content"] == "Hello from ollama: second"
    sent = app["requests"][0]
    assert sent["headers"]["Authorization"] == "Bearer sekrit"
    assert [m["role"] for m in sent["json"]["messages"]] == [
        "system",
        "user",
        "assistant",
        "user",
    ]
    assert sent["json"]["options"] == {"num_predict": 20, "temperature": 0.3}


def test_io_stream_text():
    app = make_app()
    chunks = run(app, lambda d: collect(d, {"messages": [user("stream me")]}))
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert text_of(chunks) == "Hello from ollama: stream me"
    assert (
        len(
            [
                c
                for c in chunks
                if c["choices"] and c["choices"][0]["delta"].get("content")
            ]
        )
        >= 3
    )
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1] == {
        "choices": [],
        "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18},
    }
    assert app["requests"][0]["json"]["stream"] is True


def test_io_stream_length():
    chunks = run(make_app(), lambda d: collect(d, {"messages": [user("LENGTH")]}))
    assert chunks[-2]["choices"][0]["finish_reason"] == "length"
    out = run(make_app(), lambda d: d.chat({"messages": [user("LENGTH")]}, MODEL))
    assert out["choices"][0]["finish_reason"] == "length"


def test_io_tools_non_streaming():
    app = make_app()
    out = run(
        app,
        lambda d: d.chat({"messages": [user("weather?")], "tools": [WEATHER]}, MODEL),
    )
    choice = out["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] == "Checking."
    (call,) = choice["message"]["tool_calls"]
    assert CALL_ID_RE.match(call["id"])
    assert call["function"]["name"] == "get_weather"
    assert json.loads(call["function"]["arguments"]) == {"city": "Paris"}
    assert app["requests"][0]["json"]["tools"][0]["function"]["name"] == "get_weather"


def test_io_tools_streaming():
    app = make_app(tool_call_ids=True)
    chunks = run(
        app, lambda d: collect(d, {"messages": [user("weather?")], "tools": [WEATHER]})
    )
    assert text_of(chunks) == "Checking."
    calls = [
        tc
        for c in chunks
        if c["choices"]
        for tc in c["choices"][0]["delta"].get("tool_calls", [])
    ]
    assert calls[0]["id"].startswith("call_")
    assert calls[0]["function"]["name"] == "get_weather"
    assert all(tc["index"] == 0 for tc in calls)
    assert json.loads("".join(tc["function"]["arguments"] for tc in calls)) == {
        "city": "Paris"
    }
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"
    assert chunks[-1]["usage"]["prompt_tokens"] == 11


def test_io_tool_result_round_trip():
    app = make_app()
    request = {"messages": tool_history(), "tools": [WEATHER]}
    out = run(app, lambda d: d.chat(request, MODEL))
    assert out["choices"][0]["message"]["content"] == "The tool said: 18C and sunny"
    assert out["choices"][0]["finish_reason"] == "stop"
    sent = app["requests"][0]["json"]["messages"]
    assert sent[1]["tool_calls"][0]["function"]["arguments"] == {"city": "Paris"}
    assert sent[2]["tool_name"] == "get_weather"
    assert app["unnamed_tool_messages"] == []


@override_settings(IMAGE_FETCH_ALLOW_LOOPBACK=True)
def test_io_image_data_url_and_fetched_url():
    png = b"\x89PNG\r\n\x1a\n" + b"x" * 100

    async def image(request: web.Request) -> web.Response:
        return web.Response(body=png, content_type="image/png")

    async def html(request: web.Request) -> web.Response:
        return web.Response(text="<html>", content_type="text/html")

    images = web.Application()
    images.router.add_get("/cat.png", image)
    images.router.add_get("/page", html)
    with serve(images) as img_server:
        app = make_app()
        request = {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "describe"},
                        {
                            "type": "image_url",
                            "image_url": {"url": f"data:image/png;base64,{PNG}"},
                        },
                        {
                            "type": "image_url",
                            "image_url": {"url": f"{img_server.url}/cat.png"},
                        },
                    ],
                }
            ]
        }
        out = run(app, lambda d: d.chat(request, MODEL))
        assert out["choices"][0]["message"]["content"] == "Hello from ollama: describe"
        sent = app["requests"][0]["json"]["messages"][0]
        assert sent["images"] == [PNG, base64.b64encode(png).decode()]

        for url, config in (
            (f"{img_server.url}/page", {}),
            (f"{img_server.url}/missing.png", {}),
            (f"{img_server.url}/cat.png", {"image_max_bytes": 10}),
        ):
            bad = {
                "messages": [
                    {
                        "role": "user",
                        "content": [{"type": "image_url", "image_url": {"url": url}}],
                    }
                ]
            }
            app = make_app()
            with pytest.raises(DriverError) as err:
                run(app, lambda d, bad=bad: d.chat(bad, MODEL), **config)
            assert err.value.status == 400
            assert err.value.code == "invalid_image_url"
            assert err.value.param == "messages[0].content[0].image_url.url"
            assert app["requests"] == []


def _error_of(app: web.Application, text: str, **kw: Any) -> DriverError:
    with pytest.raises(DriverError) as err:
        run(app, lambda d: d.chat({"messages": [user(text)]}, MODEL), **kw)
    return err.value


def test_io_error_mapping():
    err = _error_of(make_app(), "FAIL 429")
    assert (err.status, err.code, err.retry_after) == (
        429,
        "upstream_rate_limited",
        7.0,
    )
    err = _error_of(make_app(), "FAIL 401")
    assert (err.status, err.code) == (502, "upstream_auth_error")
    err = _error_of(make_app(), "FAIL 500")
    assert (err.status, err.code) == (502, "upstream_error")
    err = _error_of(make_app(), "FAIL 503")
    assert (err.status, err.code) == (503, "upstream_unavailable")
    err = _error_of(make_app(), "FAIL 400")
    assert (err.status, err.code) == (400, "upstream_invalid_request")
    err = _error_of(make_app(), "SLOW 2", timeouts=Timeouts(first_byte=0.2))
    assert (err.status, err.code) == (504, "upstream_timeout")
    err = _error_of(make_app(api_key="right"), "hi", api_key="wrong")
    assert (err.status, err.code) == (502, "upstream_auth_error")
    assert "wrong" not in err.message


def test_io_unknown_model_is_upstream_model_not_found():
    with pytest.raises(DriverError) as err:
        run(make_app(), lambda d: d.chat({"messages": [user("hi")]}, "nope:7b"))
    assert (err.value.status, err.value.code) == (502, "upstream_model_not_found")
    assert "try pulling it first" in err.value.message


def test_io_stream_errors_before_first_byte():
    with pytest.raises(DriverError) as err:
        run(make_app(), lambda d: collect(d, {"messages": [user("FAIL 429")]}))
    assert (err.value.status, err.value.retry_after) == (429, 7.0)


def test_io_stream_break_raises_not_hangs():
    got: list[dict[str, Any]] = []

    async def body(driver: OllamaDriver) -> None:
        async for chunk in driver.chat_stream({"messages": [user("BREAK")]}, MODEL):
            got.append(chunk)

    with pytest.raises(DriverError) as err:
        run(make_app(), body, timeouts=Timeouts(first_byte=5))
    assert err.value.status in (502, 503, 504)
    assert text_of(got) == "Hello from "


def test_io_stream_error_line():
    got: list[dict[str, Any]] = []

    async def body(driver: OllamaDriver) -> None:
        async for chunk in driver.chat_stream(
            {"messages": [user("STREAM ERROR")]}, MODEL
        ):
            got.append(chunk)

    with pytest.raises(DriverError) as err:
        run(make_app(), body)
    assert err.value.status == 502
    assert "error was encountered while running the model" in err.value.message
    assert text_of(got) == "Hello "


def test_io_stream_closed_early_by_consumer():
    async def body(driver: OllamaDriver) -> str:
        gen = driver.chat_stream({"messages": [user("hello there")]}, MODEL)
        first = await gen.__anext__()
        await gen.aclose()
        return first["choices"][0]["delta"]["role"]

    assert run(make_app(), body) == "assistant"


def test_io_embeddings():
    app = make_app()
    out = run(
        app,
        lambda d: d.embed(
            {"input": ["one", "two words"], "encoding_format": "base64"},
            "nomic-embed-text:latest",
        ),
    )
    assert [d["index"] for d in out["data"]] == [0, 1]
    vec = struct.unpack("<4f", base64.b64decode(out["data"][0]["embedding"]))
    assert len(vec) == 4
    assert out["usage"] == {"prompt_tokens": 3, "total_tokens": 3}
    assert app["requests"][0]["path"] == "/api/embed"
    again = run(make_app(), lambda d: d.embed({"input": "one"}, "nomic-embed-text"))
    assert again["data"][0]["embedding"] == pytest.approx(list(vec), abs=1e-6)
    with pytest.raises(DriverError) as err:
        run(make_app(), lambda d: d.embed({"input": [[1, 2]]}, "nomic-embed-text"))
    assert err.value.status == 400


def test_io_list_models_and_health():
    app = make_app(api_key="k")
    models = run(app, lambda d: d.list_models(), api_key="k")
    assert {m.model_id: (m.model_type, m.context_window) for m in models} == {
        "llama3.2:latest": ("inference", 131072),
        "qwen3:8b": ("inference", 40960),
        "nomic-embed-text:latest": ("embedding", 2048),
    }
    assert [r["path"] for r in app["requests"]].count("/api/show") == 3
    app = make_app()
    models = run(app, lambda d: d.list_models(), discover_details=False)
    assert [m.context_window for m in models] == [None, None, None]
    assert [r["path"] for r in app["requests"]] == ["/api/tags"]

    app = make_app(api_key="k")
    assert run(app, lambda d: d.health_check(), api_key="k") is None
    assert app["requests"][0]["path"] == "/api/tags"
    with pytest.raises(DriverError) as err:
        run(make_app(api_key="k"), lambda d: d.health_check(), api_key="bad")
    assert (err.value.code, health_of(err.value)) == (
        "upstream_auth_error",
        "unavailable",
    )


def test_io_health_check_unreachable():
    from tests.fakes.server import free_port

    async def main() -> None:
        client = build_client()
        try:
            driver = OllamaDriver(
                DriverConfig("ollama", f"http://127.0.0.1:{free_port()}", "none"),
                client,
            )
            await driver.health_check()
        finally:
            await client.aclose()

    import asyncio

    with pytest.raises(DriverError) as err:
        asyncio.run(main())
    # Connection refused. 503 is the intent; httpx-aiohttp maps aiohttp's
    # ClientConnectorError to httpx.ConnectTimeout, which base maps to 504.
    assert err.value.status == 503
    assert err.value.transient
    assert health_of(err.value) == "unavailable"


# -- the fake rejects what Ollama rejects ----------------------------------------


def _post(app: web.Application, path: str, content: bytes | str, **headers: str):
    import asyncio

    with serve(app) as server:

        async def main() -> httpx.Response:
            async with httpx.AsyncClient() as client:
                return await client.post(
                    server.url + path, content=content, headers=headers
                )

        return asyncio.run(main())


def test_fake_rejects_string_tool_arguments_like_go():
    body = {
        "model": MODEL,
        "stream": False,
        "messages": [
            user("q"),
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [{"function": {"name": "f", "arguments": '{"a":1}'}}],
            },
        ],
    }
    resp = _post(make_app(), "/api/chat", json.dumps(body))
    assert resp.status_code == 400
    assert "cannot unmarshal string" in resp.json()["error"]
    assert "map[string]interface {}" in resp.json()["error"]


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        ("{not json", 400, "invalid character"),
        ("", 400, "missing request body"),
        (
            {"model": "ghost", "messages": [user("x")]},
            404,
            'model "ghost" not found, try pulling it first',
        ),
        (
            {"model": MODEL, "messages": [{"role": "wizard", "content": "x"}]},
            400,
            "invalid message role",
        ),
        (
            {
                "model": MODEL,
                "messages": [
                    {"role": "user", "content": [{"type": "text", "text": "x"}]}
                ],
            },
            400,
            "cannot unmarshal array",
        ),
        (
            {"model": MODEL, "messages": [user("x")], "options": {"stop": "END"}},
            400,
            "must be of type array",
        ),
        (
            {
                "model": MODEL,
                "messages": [
                    {
                        "role": "user",
                        "content": "x",
                        "images": ["data:image/png;base64,AAAA"],
                    }
                ],
            },
            400,
            "illegal base64",
        ),
    ],
)
def test_fake_rejections(body, status, fragment):
    content = body if isinstance(body, str) else json.dumps(body)
    resp = _post(make_app(), "/api/chat", content)
    assert resp.status_code == status
    assert fragment in resp.json()["error"]


def test_fake_records_tool_message_without_name_and_streams_by_default():
    app = make_app()
    body = {"model": MODEL, "messages": [user("q"), {"role": "tool", "content": "42"}]}
    resp = _post(app, "/api/chat", json.dumps(body))
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(x) for x in resp.text.splitlines() if x.strip()]
    assert lines[-1]["done"] is True
    assert "".join(x["message"]["content"] for x in lines) == "The tool said: 42"
    assert len(app["unnamed_tool_messages"]) == 1
