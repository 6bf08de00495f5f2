"""ollama: request translation (canonical request → vendor body), pure vectors."""

from __future__ import annotations

import json

import pytest

from providers.drivers import driver_class
from providers.drivers.config import DriverConfig
from providers.drivers.errors import DriverError
from providers.drivers.ollama.driver import OllamaDriver
from providers.drivers.ollama.response import (
    map_done_reason,
)
from providers.drivers.ollama.translate import (
    build_chat_request,
    image_urls,
    translate_messages,
)
from providers.drivers.ollama.urls import api_url, base_url
from tests.providers.drivers.ollama.support import (
    MODEL,
    PNG,
    TIME_TOOL,
    WEATHER,
    body_for,
    cfg,
)
from tests.providers.drivers.vectors import user


def test_registry_points_at_driver():
    assert driver_class("ollama") is OllamaDriver


def test_base_url_and_paths():
    assert base_url(cfg()) == "http://localhost:11434"
    c = DriverConfig("ollama", "http://gpu:11434/api/", "none")
    assert api_url(c, "chat") == "http://gpu:11434/api/chat"
    c = DriverConfig("ollama", "http://gpu:11434/v1", "none")
    assert api_url(c, "tags") == "http://gpu:11434/api/tags"
    assert base_url(DriverConfig("ollama", "", "none")) == "http://localhost:11434"


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
