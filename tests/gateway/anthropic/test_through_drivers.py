"""Anthropic requests through the canonical format into each vendor's body (pure).

The translated path reaches Anthropic providers through the existing Anthropic
driver: what that driver sends must be the caller's request again (only the
model id replaced). Other vendors' builders must accept the same canonical
request with the tool ids and results paired.
"""

from __future__ import annotations

import copy
from typing import Any

from gateway.anthropic.request import to_canonical
from providers.drivers.anthropic.translate import build_messages_body
from providers.drivers.config import DriverConfig
from providers.drivers.gemini.translate import build_chat_body as gemini_body
from providers.drivers.openai.translate import build_chat_body as openai_body

PNG = "iVBORw0KGgo="

REQUEST: dict[str, Any] = {
    "model": "claude-x",
    "max_tokens": 300,
    "system": [{"type": "text", "text": "Be brief."}],
    "messages": [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Weather here?"},
                {
                    "type": "image",
                    "source": {
                        "type": "base64",
                        "media_type": "image/png",
                        "data": PNG,
                    },
                },
            ],
        },
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Checking."},
                {
                    "type": "tool_use",
                    "id": "toolu_01",
                    "name": "get_weather",
                    "input": {"city": "Paris"},
                },
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_01", "content": "18C"},
                {"type": "text", "text": "And tomorrow?"},
            ],
        },
    ],
    "temperature": 0.3,
    "stop_sequences": ["END"],
    "tools": [
        {
            "name": "get_weather",
            "description": "Weather now",
            "input_schema": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
            },
        }
    ],
    "tool_choice": {"type": "any", "disable_parallel_tool_use": True},
    "metadata": {"user_id": "u-1"},
}


def config(provider_type: str) -> DriverConfig:
    return DriverConfig(provider_type=provider_type, base_url="", auth_method="api_key")


def test_anthropic_driver_sends_the_callers_request_again() -> None:
    sent = build_messages_body(
        config("anthropic"), to_canonical(copy.deepcopy(REQUEST)), "claude-v", True
    )
    assert sent == {**REQUEST, "model": "claude-v", "stream": True}


def test_pdf_document_reaches_anthropic_as_a_document() -> None:
    pdf = {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0="}
    request = {
        "model": "claude-x",
        "max_tokens": 10,
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "document", "source": pdf},
                    {"type": "text", "text": "Summarise."},
                ],
            }
        ],
    }
    sent = build_messages_body(config("anthropic"), to_canonical(request), "c", False)
    assert sent["messages"] == request["messages"]


def test_structured_output_reaches_anthropic_as_sent() -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}}
    request = {
        "model": "claude-x",
        "max_tokens": 10,
        "messages": [{"role": "user", "content": "A number?"}],
        "output_config": {"format": {"type": "json_schema", "schema": schema}},
    }
    sent = build_messages_body(config("anthropic"), to_canonical(request), "c", False)
    assert sent["output_config"] == request["output_config"]


def test_gemini_body_pairs_the_tool_result_with_its_call() -> None:
    sent = gemini_body(to_canonical(copy.deepcopy(REQUEST)), "gemini-x")
    assert sent["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    assert sent["contents"][1]["parts"][1] == {
        "functionCall": {"name": "get_weather", "args": {"city": "Paris"}}
    }
    assert sent["contents"][2]["parts"][0] == {
        "functionResponse": {"name": "get_weather", "response": {"content": "18C"}}
    }
    assert sent["toolConfig"] == {"functionCallingConfig": {"mode": "ANY"}}
    assert sent["generationConfig"]["stopSequences"] == ["END"]


def test_openai_body_keeps_tool_ids() -> None:
    sent = openai_body(
        config("openai"), to_canonical(copy.deepcopy(REQUEST)), "gpt-x", False
    )
    assert sent["messages"][2]["tool_calls"][0]["id"] == "toolu_01"
    assert sent["messages"][3] == {
        "role": "tool",
        "tool_call_id": "toolu_01",
        "content": "18C",
    }
    assert sent["tool_choice"] == "required"
    assert sent["parallel_tool_calls"] is False
    assert sent["user"] == "u-1"
