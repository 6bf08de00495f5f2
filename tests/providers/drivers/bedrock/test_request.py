"""bedrock: request translation (canonical request → vendor body), pure vectors."""

from __future__ import annotations

import base64
from typing import Any

from providers.drivers.bedrock.translate import (
    build_converse_body,
    forced_tool_choice,
)
from tests.providers.drivers.bedrock.support import PNG, TIME, WEATHER, body_of, config
from tests.providers.drivers.vectors import user


def test_it_moves_system_and_developer_messages_to_top_level_system() -> None:
    body = body_of(
        {
            "messages": [
                {"role": "system", "content": "Be terse."},
                {
                    "role": "developer",
                    "content": [{"type": "text", "text": "No puns."}],
                },
                {"role": "system", "content": "   "},
                user("Hi"),
            ],
            "max_completion_tokens": 100,
            "max_tokens": 5,
            "temperature": 1.0,
            "top_p": 0.5,
            "stop": "END",
            "seed": 3,
            "presence_penalty": 1,
            "user": "u1",
        }
    )
    assert body == {
        "messages": [{"role": "user", "content": [{"text": "Hi"}]}],
        "system": [{"text": "Be terse."}, {"text": "No puns."}],
        "inferenceConfig": {
            "maxTokens": 100,
            "temperature": 1.0,
            "topP": 0.5,
            "stopSequences": ["END"],
        },
    }


def test_it_merges_same_role_turns_and_drops_blank_text() -> None:
    body = body_of(
        {
            "messages": [
                user("one"),
                {"role": "user", "content": [{"type": "text", "text": " "}]},
                user("two"),
                {"role": "assistant", "content": "a"},
                {"role": "assistant", "content": ""},
                {"role": "assistant", "content": [{"type": "text", "text": "b"}]},
                user("three"),
            ],
            "stop": ["", "X"],
        }
    )
    assert body["messages"] == [
        {"role": "user", "content": [{"text": "one"}, {"text": "two"}]},
        {"role": "assistant", "content": [{"text": "a"}, {"text": "b"}]},
        {"role": "user", "content": [{"text": "three"}]},
    ]
    assert body["inferenceConfig"] == {"stopSequences": ["X"]}


def test_it_prepends_a_user_turn_and_strips_a_trailing_prefill() -> None:
    body = body_of(
        {"messages": [{"role": "assistant", "content": "Hello. "}, user("Hi")]}
    )
    assert body["messages"][0] == {"role": "user", "content": [{"text": "."}]}
    prefill = body_of(
        {"messages": [user("Hi"), {"role": "assistant", "content": "{ "}]}
    )
    assert prefill["messages"][-1] == {"role": "assistant", "content": [{"text": "{"}]}


def test_it_uses_default_max_tokens_only_when_configured() -> None:
    request = {"messages": [user("x")]}
    assert "inferenceConfig" not in body_of(request)
    body = body_of(request, extra={"default_max_tokens": 4096})
    assert body["inferenceConfig"] == {"maxTokens": 4096}


def test_it_inlines_data_url_images_and_fetched_urls() -> None:
    data = base64.b64encode(PNG).decode()
    request = {
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is this?"},
                    {
                        "type": "image_url",
                        "image_url": {"url": f"data:image/png;base64,{data}"},
                    },
                    {"type": "image_url", "image_url": {"url": "https://x.test/a.jpg"}},
                ],
            }
        ]
    }
    body = build_converse_body(
        config(), request, {"https://x.test/a.jpg": ("jpeg", "AAAA")}
    )
    assert body["messages"][0]["content"] == [
        {"text": "What is this?"},
        {"image": {"format": "png", "source": {"bytes": data}}},
        {"image": {"format": "jpeg", "source": {"bytes": "AAAA"}}},
    ]


def test_it_translates_tools_and_tool_choice_variants() -> None:
    request: dict[str, Any] = {"messages": [user("x")], "tools": [WEATHER, TIME]}
    tool_config = body_of(request)["toolConfig"]
    assert tool_config == {
        "tools": [
            {
                "toolSpec": {
                    "name": "get_weather",
                    "description": "Weather for a city",
                    "inputSchema": {"json": WEATHER["function"]["parameters"]},
                }
            },
            {
                "toolSpec": {
                    "name": "get_time",
                    "inputSchema": {"json": {"type": "object", "properties": {}}},
                }
            },
        ],
        "toolChoice": {"auto": {}},
    }
    choice = {"type": "function", "function": {"name": "get_time"}}
    assert body_of({**request, "tool_choice": "required"})["toolConfig"][
        "toolChoice"
    ] == {"any": {}}
    assert body_of({**request, "tool_choice": choice})["toolConfig"]["toolChoice"] == {
        "tool": {"name": "get_time"}
    }
    assert "toolConfig" not in body_of({**request, "tool_choice": "none"})


def test_forcing_tool_choice_exists_only_for_some_model_families() -> None:
    for model in (
        "anthropic.claude-3-haiku-20240307-v1:0",
        "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
        "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-5-sonnet",
        "amazon.nova-lite-v1:0",
        "eu.amazon.nova-pro-v1:0",
    ):
        assert forced_tool_choice(model) == (True, True), model
    assert forced_tool_choice("mistral.mistral-large-2407-v1:0") == (True, False)
    for model in (
        "meta.llama3-1-70b-instruct-v1:0",
        "anthropic.claude-v2:1",
        "cohere.command-r-plus-v1:0",
        "amazon.titan-text-express-v1",
    ):
        assert forced_tool_choice(model) == (False, False), model
