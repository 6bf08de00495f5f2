"""openai: request translation (canonical request → vendor body), pure vectors."""

from __future__ import annotations

import pytest

from providers.drivers import driver_class
from providers.drivers.openai.driver import OpenAIDriver
from providers.drivers.openai.translate import (
    build_chat_body,
    is_reasoning_model,
)
from tests.providers.drivers.openai.support import TOOLS, cfg
from tests.providers.drivers.vectors import user


@pytest.mark.parametrize("tool_choice", ["none", "auto", "required"])
def test_tool_choice_strings_pass_through(tool_choice: str) -> None:
    request = {"messages": [user("x")], "tools": TOOLS, "tool_choice": tool_choice}
    body = build_chat_body(cfg(), request, "gpt-4o", stream=False)
    assert body["tool_choice"] == tool_choice


@pytest.mark.parametrize(
    ("model_id", "reasoning"),
    [
        ("o1", True),
        ("o1-mini", True),
        ("o3-mini", True),
        ("o4-mini", True),
        ("gpt-5", True),
        ("gpt-5-mini", True),
        ("openai/o3", True),
        ("gpt-4o", False),
        ("gpt-4.1", False),
        ("llama-3.1-8b", False),
    ],
)
def test_reasoning_models(model_id: str, reasoning: bool) -> None:
    assert is_reasoning_model(model_id) is reasoning
    body = build_chat_body(cfg(), {"max_tokens": 10}, model_id, stream=False)
    if reasoning:
        assert body == {"model": model_id, "max_completion_tokens": 10}
    else:
        assert body == {"model": model_id, "max_tokens": 10}


def test_registry_maps_every_openai_family_type_to_this_driver() -> None:
    for kind in (
        "openai",
        "openai_compatible",
        "openrouter",
        "groq",
        "together",
        "fireworks",
        "deepseek",
        "mistral",
        "xai",
        "vllm",
    ):
        assert driver_class(kind) is OpenAIDriver
